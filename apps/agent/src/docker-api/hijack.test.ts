import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { hijack, type RequestContext } from './context';
import { FrameDecoder, frame } from './framing';

// A real http server on a real unix socket, with the 'upgrade' wiring the Docker API server uses, and an
// echo handler standing in for a container's stdio: proves the 101 bytes, the head buffer and half-close.
describe('hijacked connections', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  async function echoServer(): Promise<string> {
    const dir = await mkdtemp('/tmp/bt-api-hijack-');
    const socketPath = join(dir, 's.sock');
    const server = createServer();
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const ctx = { req, upgrade: { socket, head } } as unknown as RequestContext;
      const conn = hijack(ctx, 'application/vnd.docker.raw-stream');
      conn.on('data', (chunk: Buffer) => conn.write(frame('stdout', chunk)));
      conn.on('end', () => conn.end(frame('stderr', Buffer.from('eof'))));
      conn.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await rm(dir, { recursive: true, force: true });
    });
    return socketPath;
  }

  it('answers 101 UPGRADED, keeps stdin sent with the headers, and finishes after the client half-closes', async () => {
    const socketPath = await echoServer();
    const received = await new Promise<Buffer>((resolve, reject) => {
      const client = createConnection({ path: socketPath, allowHalfOpen: true });
      const chunks: Buffer[] = [];
      client.on('data', (c: Buffer) => chunks.push(c));
      client.on('end', () => resolve(Buffer.concat(chunks)));
      client.on('error', reject);
      client.on('connect', () => {
        // Headers and the first stdin bytes in one write: the server sees them in its `head` buffer.
        client.write(
          'POST /v1.41/containers/x/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: docker\r\n' +
            'Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\nfirst-',
        );
        setTimeout(() => client.end('second'), 50);
      });
    });
    const text = received.toString('latin1');
    const split = text.indexOf('\r\n\r\n');
    expect(text.slice(0, split + 4)).toBe(
      'HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n',
    );
    const frames = new FrameDecoder().push(received.subarray(split + 4));
    const stdout = frames.filter((f) => f.stream === 'stdout').map((f) => f.payload.toString());
    expect(stdout.join('')).toBe('first-second');
    expect(frames.at(-1)?.stream).toBe('stderr');
    expect(frames.at(-1)?.payload.toString()).toBe('eof');
  });

  it('refuses to hijack a request that did not ask for an upgrade', () => {
    const ctx = { upgrade: undefined, log: pino({ level: 'silent' }) } as unknown as RequestContext;
    expect(() => hijack(ctx, 'application/vnd.docker.raw-stream')).toThrow(/Upgrade: tcp/);
  });
});
