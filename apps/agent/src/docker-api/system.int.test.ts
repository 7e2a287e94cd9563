import { readFile, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAgent, type TestAgent } from './testing';

describe('docker api: system endpoints and transport', () => {
  let t: TestAgent;
  beforeAll(async () => {
    t = await startTestAgent();
  });
  afterAll(async () => {
    await t?.[Symbol.asyncDispose]();
  });

  it('serves a unix socket with mode 0660, group docker when that group exists', async () => {
    const s = await stat(t.socket);
    expect(s.isSocket()).toBe(true);
    expect(s.mode & 0o777).toBe(0o660);
    const docker = (await readFile('/etc/group', 'utf8')).split('\n').find((l) => l.startsWith('docker:'));
    if (docker) expect(s.gid).toBe(Number(docker.split(':')[2]));
  });

  it('refuses to take over a socket another server is listening on', async () => {
    const { DockerApiServer } = await import('./server');
    const { pino } = await import('pino');
    await expect(
      DockerApiServer.listen({
        socketPath: t.socket,
        log: pino({ level: 'silent' }),
        deps: { events: t.agent.engine.events, dataRoot: t.root, images: t.agent.engine.images },
      }),
    ).rejects.toThrow(/another server is listening/);
    expect((await t.raw('GET', '/_ping')).status).toBe(200);
  });

  it('docker version negotiates API 1.41 with the v28 CLI', async () => {
    const r = await t.docker([
      'version',
      '--format',
      '{{.Client.APIVersion}} {{.Server.APIVersion}} {{.Server.Os}}',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('1.41 1.41 linux');
  });

  it('docker info prints the server section', async () => {
    const r = await t.docker(['info', '--format', '{{.OSType}} {{.DockerRootDir}} {{.Containers}}']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`linux ${t.root}/data 0`);
  });

  it('answers /_ping GET and HEAD with the negotiation headers', async () => {
    for (const method of ['GET', 'HEAD']) {
      const r = await t.raw(method, '/_ping');
      expect(r.status).toBe(200);
      expect(r.headers['api-version']).toBe('1.41');
      expect(r.headers.ostype).toBe('linux');
      expect(r.headers['docker-experimental']).toBe('false');
      expect(r.headers['builder-version']).toBe('1');
      expect(r.headers.server).toMatch(/^Berth\/.+ \(linux\)$/);
      expect(r.body).toBe(method === 'GET' ? 'OK' : '');
    }
  });

  it('answers errors as dockerd does: status, JSON message and a trailing newline', async () => {
    const tooNew = await t.raw('GET', '/v1.99/version');
    expect(tooNew.status).toBe(400);
    expect(tooNew.body).toBe(
      '{"message":"client version 1.99 is too new. Maximum supported API version is 1.41"}\n',
    );
    const unknown = await t.raw('GET', '/v1.41/nothing/here');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toBe('{"message":"page not found"}\n');
    const badFilter = await t.raw('GET', '/v1.41/events?filters=%7Bbad');
    expect(badFilter.status).toBe(400);
    expect(JSON.parse(badFilter.body)).toEqual({ message: 'invalid filter: {bad' });
  });

  it('streams events live and from history, filtered, ending at until', async () => {
    const since = Math.floor(Date.now() / 1000);
    t.agent.engine.events.emit('volume', 'create', 'bt-api-v1', { driver: 'local' });
    t.agent.engine.events.emit('network', 'create', 'bt-api-n1', { name: 'bt-api-n1' });
    const until = Date.now() / 1000 + 1;
    const pending = t.raw(
      'GET',
      `/v1.41/events?since=${since}&until=${until}&filters=${encodeURIComponent('{"type":["volume"]}')}`,
    );
    setTimeout(() => t.agent.engine.events.emit('volume', 'destroy', 'bt-api-v1', {}), 200);
    const r = await pending;
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    const lines = r.body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { Action: string; Actor: { ID: string } });
    expect(lines.map((e) => `${e.Action}:${e.Actor.ID}`)).toEqual(['create:bt-api-v1', 'destroy:bt-api-v1']);
  });

  it('docker events --filter prints matching events as they happen', async () => {
    const since = Math.floor(Date.now() / 1000);
    t.agent.engine.events.emit('container', 'start', 'abc123', { name: 'bt-api-c1', image: 'busybox' });
    t.agent.engine.events.emit('container', 'start', 'def456', { name: 'bt-api-c2', image: 'busybox' });
    const r = await t.docker([
      'events',
      '--since',
      String(since),
      '--until',
      String(Math.floor(Date.now() / 1000) + 1),
      '--filter',
      'container=bt-api-c2',
      '--format',
      '{{.Action}} {{.Actor.Attributes.name}}',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('start bt-api-c2');
  });

  it('a client that disconnects mid-stream leaves no listener behind', async () => {
    const before = listenerCount(t);
    expect(before).toBe(0);
    await new Promise<void>((resolve, reject) => {
      const req = request({ socketPath: t.socket, path: '/v1.41/events' }, (res) => {
        expect(res.statusCode).toBe(200);
        setTimeout(() => {
          expect(listenerCount(t)).toBe(1);
          req.destroy();
          resolve();
        }, 100);
      });
      req.on('error', (e) => (req.destroyed ? undefined : reject(e)));
      req.end();
    });
    await waitFor(() => listenerCount(t) === before);
    expect(listenerCount(t)).toBe(before);
  });

  it('answers hostile requests with 4xx and dockerd-shaped bodies, never crashing', async () => {
    const json = { 'Content-Type': 'application/json' };
    const cases: Array<[string, string, string | undefined, Record<string, string>, number, RegExp]> = [
      ['POST', '/v1.41/auth', '{bad', json, 400, /^invalid JSON/],
      ['POST', '/v1.41/auth', '{"username":5}', json, 400, /username/],
      ['POST', '/v1.41/auth', 'x', { 'Content-Type': 'text/plain' }, 400, /unsupported Content-Type/],
      ['POST', '/v1.41/auth', '{}', json, 400, /username and password are required/],
      ['GET', '/v1.41/images/%E0%A4%A/json', undefined, {}, 400, /invalid escape/],
      ['GET', '/v1.41/images/json?filters=%5B1%5D', undefined, {}, 400, /invalid filter/],
      ['GET', '/v1.41/images/json?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D', undefined, {}, 400, /bogus/],
      ['POST', '/v1.41/images/create', undefined, {}, 400, /fromImage is required/],
      ['GET', '/v1.41/events?since=yesterday', undefined, {}, 400, /since/],
      ['GET', '//evil/v1.41/info', undefined, {}, 400, /invalid request URL/],
    ];
    for (const [method, path, body, headers, status, message] of cases) {
      const r = await t.raw(method, path, body, headers);
      expect({ path, status: r.status }).toEqual({ path, status });
      expect(r.headers['content-type']).toBe('application/json');
      expect((JSON.parse(r.body) as { message: string }).message).toMatch(message);
    }
    expect((await t.raw('GET', '/_ping')).status).toBe(200);
  });

  it('answers an upgrade request to a plain endpoint and closes the connection', async () => {
    const { createConnection } = await import('node:net');
    const text = await new Promise<string>((resolve, reject) => {
      let out = '';
      const s = createConnection(t.socket, () =>
        s.write('GET /v1.41/_ping HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n'),
      );
      s.on('data', (c: Buffer) => {
        out += c.toString();
      });
      s.on('end', () => resolve(out));
      s.on('error', reject);
    });
    expect(text).toMatch(/^HTTP\/1.1 200 OK\r\n/);
    expect(text.endsWith('\r\n\r\nOK')).toBe(true);
  });

  it('survives garbage on the socket and keeps serving', async () => {
    const { createConnection } = await import('node:net');
    await new Promise<void>((resolve) => {
      const s = createConnection(t.socket, () => s.end('NOT HTTP AT ALL\r\n\r\n'));
      s.on('data', () => {});
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    });
    const r = await t.raw('GET', '/_ping');
    expect(r.status).toBe(200);
  });
});

function listenerCount(t: TestAgent): number {
  return t.agent.dockerApi?.activeRequests ?? -1;
}

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}
