/**
 * Test harness: an in-process Agent on a temp data root and socket (`/tmp/bt-api-*`), the real docker CLI
 * pointed at it with its own DOCKER_CONFIG, and raw HTTP over the socket.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { testNetworkOptions } from '@berth/engine/testing/network';
import { pino } from 'pino';
import { Agent } from '../agent';

export const dockerCli = '/usr/local/bin/docker';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runDocker(
  host: string,
  configDir: string,
  args: string[],
  options: { input?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(
      dockerCli,
      ['-H', host, ...args],
      {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', DOCKER_CONFIG: configDir, HOME: configDir },
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.on('error', () => {});
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function rawRequest(
  socketPath: string,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

export interface TestAgent extends AsyncDisposable {
  agent: Agent;
  root: string;
  socket: string;
  host: string;
  configDir: string;
  docker(args: string[], options?: { input?: string; timeoutMs?: number }): Promise<CliResult>;
  raw(method: string, path: string, body?: string, headers?: Record<string, string>): Promise<RawResponse>;
}

export async function startTestAgent(): Promise<TestAgent> {
  const root = await mkdtemp('/tmp/bt-api-');
  const socket = join(root, 'docker.sock');
  const configDir = join(root, 'docker-config');
  const log = pino({ level: process.env.BT_API_LOG ?? 'silent' });
  let agent: Agent;
  try {
    agent = await Agent.start({
      dataRoot: join(root, 'data'),
      dockerSocket: socket,
      log,
      engine: testNetworkOptions(),
    });
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    throw error;
  }
  const host = `unix://${socket}`;
  return {
    agent,
    root,
    socket,
    host,
    configDir,
    docker: (args, options) => runDocker(host, configDir, args, options),
    raw: (method, path, body, headers) => rawRequest(socket, method, path, body, headers),
    async [Symbol.asyncDispose]() {
      try {
        // Containers outlive the agent by design; a test's own must not outlive the test.
        for (const container of agent.engine.containers.list({ all: true }))
          await agent.engine.containers.remove(container.Id, { force: true, volumes: true }).catch(() => {});
        await agent.close();
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    },
  };
}
