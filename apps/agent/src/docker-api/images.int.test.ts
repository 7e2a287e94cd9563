import {
  multiPlatformImages,
  pushBusybox,
  pushIndex,
  type StartedRegistry,
  startRegistry,
} from '@berth/engine/testing/index';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAgent, type TestAgent } from './testing';

describe('docker api: images through the docker CLI', () => {
  let t: TestAgent;
  let registry: StartedRegistry;
  let secured: StartedRegistry;
  let tokened: StartedRegistry;
  let ref: string;
  beforeAll(async () => {
    registry = await startRegistry();
    secured = await startRegistry({ auth: 'htpasswd', users: { 'bt-api-user': 'bt-api-pass' } });
    tokened = await startRegistry({ auth: 'token', users: { 'bt-api-tok': 'bt-api-tok-pass' } });
    ref = await pushBusybox(registry, 'bt-api/busybox:1.0');
    t = await startTestAgent();
  });
  afterAll(async () => {
    await t?.[Symbol.asyncDispose]();
    await registry?.[Symbol.asyncDispose]();
    await secured?.[Symbol.asyncDispose]();
    await tokened?.[Symbol.asyncDispose]();
  });

  it('docker pull prints progress and the digest, then images lists it', async () => {
    const pull = await t.docker(['pull', ref]);
    expect(pull.stderr).toBe('');
    expect(pull.code).toBe(0);
    // dockerd prints the path without the registry host here; Berth's engine includes it (see report).
    expect(pull.stdout).toMatch(/^1\.0: Pulling from (\S+\/)?bt-api\/busybox$/m);
    expect(pull.stdout).toMatch(/Digest: sha256:[0-9a-f]{64}/);
    expect(pull.stdout).toContain(`Status: Downloaded newer image for ${ref}`);
    expect(pull.stdout.trim().split('\n').at(-1)).toBe(ref);

    const images = await t.docker(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    expect(images.code).toBe(0);
    expect(images.stdout.trim().split('\n')).toContain(ref);
  });

  it('image inspect --format reads Docker-shaped fields', async () => {
    const r = await t.docker([
      'image',
      'inspect',
      '--format',
      '{{.Os}}/{{.Architecture}} {{index .RepoTags 0}}',
      ref,
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`linux/amd64 ${ref}`);
  });

  it('tag and rmi print what dockerd prints', async () => {
    const tagged = `${registry.host}/bt-api/other:2`;
    expect((await t.docker(['tag', ref, tagged])).code).toBe(0);
    const ls = await t.docker([
      'images',
      '--filter',
      'reference=*/bt-api/other',
      '--format',
      '{{.Repository}}:{{.Tag}}',
    ]);
    expect(ls.stdout.trim()).toBe(tagged);
    const rmi = await t.docker(['rmi', tagged]);
    expect(rmi.code).toBe(0);
    expect(rmi.stdout.trim()).toBe(`Untagged: ${tagged}`);
  });

  it('answers missing images and bad references with dockerd status and message', async () => {
    const inspect = await t.docker(['image', 'inspect', 'bt-api-nope']);
    expect(inspect.code).toBe(1);
    expect(inspect.stderr).toMatch(/No such image: bt-api-nope/i);
    const rmi = await t.docker(['rmi', 'bt-api-nope']);
    expect(rmi.code).toBe(1);
    expect(rmi.stderr).toMatch(/^Error response from daemon: .*No such image: bt-api-nope/i);
    const missingTag = await t.docker(['pull', `${registry.host}/bt-api/busybox:nope`]);
    expect(missingTag.code).toBe(1);
    expect(missingTag.stderr).toMatch(/not found|manifest unknown/i);
    const raw = await t.raw('POST', '/v1.41/images/create?fromImage=Bad%20Ref');
    expect(raw.status).toBe(400);
    expect(JSON.parse(raw.body).message).toMatch(/invalid reference format/);
  });

  it('a pull the registry refuses fails at once with 500, as dockerd, so the CLI does not ask for a login', async () => {
    await pushBusybox(secured, 'bt-api/private:1', { username: 'bt-api-user', password: 'bt-api-pass' });
    const raw = await t.raw('POST', `/v1.41/images/create?fromImage=${secured.host}/bt-api/private&tag=1`);
    expect(raw.status).toBe(500);
    expect(JSON.parse(raw.body).message).toMatch(/requires authentication/);
    // A 401 made the CLI print "Login prior to pull" and wait for a username on stdin.
    const cli = await t.docker(['pull', `${secured.host}/bt-api/private:1`], {
      input: '',
      timeoutMs: 20_000,
    });
    expect(cli.code).toBe(1);
    expect(cli.stderr).not.toMatch(/Login prior to pull|Username/);
    expect(cli.stderr).toMatch(/^Error response from daemon: .*requires authentication/);
  });

  it('docker login, then push to and pull from a registry with a password', async () => {
    const bad = await t.docker(['login', '-u', 'bt-api-user', '--password-stdin', secured.host], {
      input: 'wrong',
    });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/unauthorized/);
    const anonymous = await t.docker(['push', `${secured.host}/bt-api/busybox:1.0`]);
    expect(anonymous.code).toBe(1);

    const login = await t.docker(['login', '-u', 'bt-api-user', '--password-stdin', secured.host], {
      input: 'bt-api-pass',
    });
    expect(login.stderr).not.toMatch(/Error/);
    expect(login.code).toBe(0);
    expect(login.stdout).toContain('Login Succeeded');

    const target = `${secured.host}/bt-api/busybox:1.0`;
    expect((await t.docker(['tag', ref, target])).code).toBe(0);
    const push = await t.docker(['push', target]);
    expect(push.stderr).toBe('');
    expect(push.code).toBe(0);
    expect(push.stdout).toMatch(/1\.0: digest: sha256:[0-9a-f]{64} size: \d+/);
    expect((await t.docker(['rmi', target])).code).toBe(0);
    const pull = await t.docker(['pull', target]);
    expect(pull.code).toBe(0);
    expect(pull.stdout.trim().split('\n').at(-1)).toBe(target);
  });

  it('docker login checks credentials with a token-auth registry too', async () => {
    const args = ['login', '-u', 'bt-api-tok', '--password-stdin', tokened.host];
    const bad = await t.docker(args, { input: 'nope' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/unauthorized/);
    const good = await t.docker(args, { input: 'bt-api-tok-pass' });
    expect(good.stderr).not.toMatch(/Error/);
    expect(good.code).toBe(0);
  });

  it('docker events shows the image events of a pull and a tag, filtered by type', async () => {
    const since = String(Math.floor(Date.now() / 1000));
    const tagged = `${registry.host}/bt-api/evented:1`;
    expect((await t.docker(['pull', ref])).code).toBe(0);
    expect((await t.docker(['tag', ref, tagged])).code).toBe(0);
    const until = String(Math.floor(Date.now() / 1000) + 1);
    const r = await t.docker([
      'events',
      '--since',
      since,
      '--until',
      until,
      '--filter',
      'type=image',
      '--format',
      '{{.Type}} {{.Action}}',
    ]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toContain('image pull');
    expect(lines).toContain('image tag');
    expect((await t.docker(['rmi', tagged])).code).toBe(0);
  });

  it('docker pull --platform picks that platform from an index', async () => {
    const multi = `${registry.host}/bt-api/multi:1`;
    await pushIndex(multi, await multiPlatformImages());
    const pull = await t.docker(['pull', '--platform', 'linux/arm64', multi]);
    expect(pull.stderr).toBe('');
    expect(pull.code).toBe(0);
    const arch = await t.docker(['image', 'inspect', '--format', '{{.Os}}/{{.Architecture}}', multi]);
    expect(arch.stdout.trim()).toBe('linux/arm64');
    expect((await t.docker(['rmi', multi])).code).toBe(0);
  });

  it('image prune removes dangling images only', async () => {
    const r = await t.docker(['image', 'prune', '-f']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Total reclaimed space');
    const images = await t.docker(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    expect(images.stdout).toContain(ref);
  });

  it('a client that disconnects mid-pull leaves no request running', async () => {
    const { request } = await import('node:http');
    await new Promise<void>((resolve) => {
      const req = request(
        {
          socketPath: t.socket,
          method: 'POST',
          path: `/v1.41/images/create?fromImage=${registry.host}/bt-api/busybox&tag=1.0`,
        },
        () => {
          req.destroy();
          resolve();
        },
      );
      req.on('error', () => resolve());
      req.end();
    });
    const deadline = Date.now() + 5000;
    while ((t.agent.dockerApi?.activeRequests ?? 0) > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(t.agent.dockerApi?.activeRequests).toBe(0);
  });
});
