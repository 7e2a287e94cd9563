/**
 * Builds from the control plane with real parts: a real engine behind the real agent link and backend over a
 * real WebSocket to the real gateway, a real PostgreSQL, and Debian's registry with htpasswd auth (the team's
 * saved credential is what lets the push in). The context streams to the agent in pieces and arrives intact;
 * the operation keeps each step with its cache hit and RUN output; the tags land on the host and the push in
 * the registry; a failing RUN keeps its output and exit code and tags nothing; contexts over the limit are
 * refused with a clear error, by the control plane and by the agent.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { BUILD_CONTEXT_MAX_BYTES } from '@berth/agent/protocol/messages';
import type { Engine } from '@berth/engine';
import { imageOutput, type StartedRegistry, tarBytes } from '@berth/engine/testing/index';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LinkedAgent, startGatewayInstance, startLinkedAgent } from '../agents/testing';
import { startTeamRegistry } from '../registries/testing';
import { type Caller, type ControlPlaneHarness, startControlPlane } from '../teams/testing';
import type { BuildStatus } from './build-schemas';

const credentials = { username: 'bt-builder', password: 'bt-build-password-7' };

describe('image builds through the control plane', () => {
  let cp: ControlPlaneHarness;
  let agent: LinkedAgent;
  let registry: StartedRegistry;
  let engine: Engine;
  let teamId: string;
  let hostId: string;
  let operator: Caller;
  let build: typeof import('./build');

  beforeAll(async () => {
    cp = await startControlPlane('build');
    build = await import('./build');
    // The procedures send through this process's gateway: the one the agent is connected to.
    agent = await startLinkedAgent(cp, 'build', { processGateway: true });
    ({ engine, teamId, hostId } = agent);
    registry = await startTeamRegistry(cp, teamId, credentials);
    operator = (await cp.user(teamId, 'operator')).caller;
  });
  afterAll(async () => {
    await agent?.close();
    await registry?.stop();
    await cp?.stop();
  });

  async function finished(operationId: string): Promise<BuildStatus> {
    let status: BuildStatus | undefined;
    await expect
      .poll(
        async () => {
          status = await operator.images.buildStatus({ teamId, operationId });
          return status.state;
        },
        { timeout: 60_000, interval: 200 },
      )
      .not.toBe('running');
    return status as BuildStatus;
  }

  async function upload(files: Array<{ path: string; content: string | Buffer }>): Promise<string> {
    const body = gzipSync(await tarBytes(files));
    // Fed in small pieces, as a request body arrives.
    const pieces: Buffer[] = [];
    for (let i = 0; i < body.length; i += 64 * 1024) pieces.push(body.subarray(i, i + 64 * 1024));
    const { uploadId, bytes } = await build.uploadBuildContext(
      { teamId, hostId },
      Readable.from(pieces),
      null,
    );
    expect(bytes).toBe(body.length);
    return uploadId;
  }

  it('builds an uploaded context with per-step progress and tags, then pushes with the team credential', async () => {
    // Random bytes do not compress: a context of several pieces of the link's size.
    const big = randomBytes(2_500_000);
    const dockerfile = [
      'FROM busybox',
      'ARG WHO',
      'COPY hello.txt big.bin /ctx/',
      'RUN cat /ctx/hello.txt && echo "built by $WHO" && sha256sum /ctx/big.bin',
      'CMD ["cat", "/ctx/hello.txt"]',
    ].join('\n');
    const tags = [`${registry.host}/bt-build/app:1`, `${registry.host}/bt-build/app:latest`];
    const uploadId = await upload([
      { path: 'hello.txt', content: 'hello from the upload\n' },
      { path: 'big.bin', content: big },
    ]);
    const { operationId } = await operator.images.build({
      teamId,
      hostId,
      uploadId,
      dockerfile,
      tags,
      buildArgs: [{ name: 'WHO', value: 'the control plane' }],
      push: true,
    });
    const status = await finished(operationId);
    expect(status.error).toBeNull();
    expect(status.state).toBe('succeeded');
    const steps = status.progress?.steps ?? [];
    expect(steps.map((s) => `${s.step}/${s.total} ${s.instruction}`)).toEqual([
      '1/5 FROM busybox',
      '2/5 ARG WHO',
      '3/5 COPY hello.txt big.bin /ctx/',
      '4/5 RUN cat /ctx/hello.txt && echo "built by $WHO" && sha256sum /ctx/big.bin',
      '5/5 CMD ["cat", "/ctx/hello.txt"]',
    ]);
    expect(steps[2]?.cached).toBe(false);
    const run = steps[3];
    expect(run?.cached).toBe(false);
    expect(run?.output).toContain('hello from the upload\nbuilt by the control plane\n');
    expect(run?.output).toContain(createHash('sha256').update(big).digest('hex'));
    expect(status.result?.tags).toEqual(tags);
    expect(status.result?.pushed.map((p) => p.tag)).toEqual(tags);
    expect((await engine.images.inspect(tags[0] as string)).Id).toBe(status.result?.id);
    expect(await imageOutput(engine, tags[1] as string)).toBe('hello from the upload\n');

    // In the registry, behind its auth.
    const auth = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
    const manifest = await fetch(`${registry.url}/v2/bt-build/app/manifests/1`, {
      headers: { authorization: auth, accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(manifest.status).toBe(200);
    expect(manifest.headers.get('docker-content-digest')).toBe(status.result?.pushed[0]?.digest);

    // The password went to the agent in the command and nowhere else; the build is audited.
    const row = await cp.db.db().operation.findUniqueOrThrow({ where: { id: operationId } });
    expect(JSON.stringify(row)).not.toContain(credentials.password);
    await expect
      .poll(() => cp.db.db().auditLog.count({ where: { teamId, action: 'image.build' } }), { timeout: 5000 })
      .toBe(1);
    const audit = await cp.db.db().auditLog.findFirstOrThrow({ where: { teamId, action: 'image.build' } });
    expect(audit.detail).toMatchObject({ ok: true, imageId: status.result?.id, credentials: registry.host });

    // The Images page lists the new tags on the host.
    await expect
      .poll(
        async () =>
          (await operator.images.list({ teamId, search: 'bt-build/app' })).rows.flatMap((r) => r.repoTags),
        { timeout: 10_000 },
      )
      .toEqual(expect.arrayContaining(tags));

    // The same build again (a fresh upload of the same files) takes every step from the cache.
    const again = await operator.images.build({
      teamId,
      hostId,
      uploadId: await upload([
        { path: 'hello.txt', content: 'hello from the upload\n' },
        { path: 'big.bin', content: big },
      ]),
      dockerfile,
      tags: [tags[0] as string],
      buildArgs: [{ name: 'WHO', value: 'the control plane' }],
    });
    const cached = await finished(again.operationId);
    expect(cached.state).toBe('succeeded');
    expect(cached.progress?.steps.slice(2).map((s) => s.cached)).toEqual([true, true, true]);
    expect(cached.result?.id).toBe(status.result?.id);
  });

  it('a failing RUN keeps its output and exit code, and tags nothing', async () => {
    const { operationId } = await operator.images.build({
      teamId,
      hostId,
      dockerfile: 'FROM busybox\nRUN echo going down && exit 7\nCMD ["true"]\n',
      tags: ['bt-build/failed:1'],
    });
    const status = await finished(operationId);
    expect(status.state).toBe('failed');
    expect(status.error).toContain(
      "The command '/bin/sh -c echo going down && exit 7' returned a non-zero code: 7",
    );
    expect(status.progress?.failure).toEqual({
      exitCode: 7,
      command: '/bin/sh -c echo going down && exit 7',
    });
    expect(status.progress?.steps.at(-1)?.output).toContain('going down');
    expect(status.progress?.steps.map((s) => s.step)).toEqual([1, 2]);
    await expect(engine.images.inspect('bt-build/failed:1')).rejects.toThrow();
  });

  it('a build outlives a control-plane restart: the row stays running, then ends with its steps followed again', async () => {
    const ops = await import('../operations/service');
    const { operationId } = await operator.images.build({
      teamId,
      hostId,
      dockerfile: 'FROM busybox\nRUN echo before && sleep 4 && echo after\n',
      tags: ['bt-build/restart:1'],
      network: 'none',
    });
    await expect
      .poll(
        async () => (await operator.images.buildStatus({ teamId, operationId })).progress?.steps[1]?.output,
        {
          timeout: 30_000,
          interval: 100,
        },
      )
      .toContain('before');
    const port = agent.gateway.port;
    await agent.gateway.close();
    const row = await cp.db.db().operation.findUniqueOrThrow({ where: { id: operationId } });
    expect(row.state).toBe('running');

    agent.gateway = await startGatewayInstance(port);
    (globalThis as { berthGateway?: unknown }).berthGateway = agent.gateway.gateway;
    const stop = ops.startOperations(agent.gateway.gateway);
    try {
      const status = await finished(operationId);
      expect(status.state).toBe('succeeded');
      expect(status.result?.tags).toEqual(['bt-build/restart:1']);
      // 'after' came once the agent was back on the new instance: its progress is on the row too.
      expect(status.progress?.steps[1]?.output).toBe('before\nafter\n');
    } finally {
      stop();
    }
  });

  it('an agent held by another instance gets the context over the bus in pieces small enough for NOTIFY', async () => {
    const asker = await startGatewayInstance();
    const sent: number[] = [];
    const send = asker.bus.send.bind(asker.bus);
    // The real bus still sends; the sizes of the requests it carries are noted on the way.
    asker.bus.send = (to, message) => {
      if (message.kind === 'request') sent.push(Buffer.byteLength(JSON.stringify({ message })));
      return send(to, message);
    };
    (globalThis as { berthGateway?: unknown }).berthGateway = asker.gateway;
    try {
      const content = randomBytes(60_000);
      const uploadId = await upload([{ path: 'data.bin', content }]);
      expect(sent.length).toBeGreaterThan(10);
      expect(Math.max(...sent)).toBeLessThan(7900);
      const { operationId } = await operator.images.build({
        teamId,
        hostId,
        uploadId,
        dockerfile: 'FROM busybox\nCOPY data.bin /\nRUN sha256sum /data.bin\n',
        network: 'none',
      });
      const status = await finished(operationId);
      expect(status.state).toBe('succeeded');
      expect(status.progress?.steps[2]?.output).toContain(createHash('sha256').update(content).digest('hex'));
    } finally {
      (globalThis as { berthGateway?: unknown }).berthGateway = agent.gateway.gateway;
      await asker.close();
    }
  });

  it('refuses a context over the limit, clearly, at the control plane and at the agent', async () => {
    await expect(
      build.uploadBuildContext({ teamId, hostId }, Readable.from([]), BUILD_CONTEXT_MAX_BYTES + 1),
    ).rejects.toMatchObject({
      name: 'BuildContextTooLargeError',
      message: expect.stringContaining('200 MiB'),
    });
    // A body without a length is counted as it streams, and cut off at the limit.
    await expect(
      build.uploadBuildContext(
        { teamId, hostId },
        Readable.from([Buffer.alloc(40_000), Buffer.alloc(40_000), Buffer.alloc(40_000)]),
        null,
        100_000,
      ),
    ).rejects.toMatchObject({ name: 'BuildContextTooLargeError' });
    // An agent asked to go past the limit refuses the piece itself.
    await expect(
      agent.gateway.gateway.request(hostId, {
        kind: 'build.context',
        uploadId: '00000000-0000-4000-8000-000000000001',
        offset: BUILD_CONTEXT_MAX_BYTES - 4,
        data: Buffer.from('12345678').toString('base64'),
      }),
    ).rejects.toMatchObject({ code: 'too_large', message: expect.stringContaining('over 200 MiB') });
    // A push with tags on two registries is refused before anything runs.
    await expect(
      operator.images.build({
        teamId,
        hostId,
        dockerfile: 'FROM busybox\n',
        tags: ['one.example/app:1', 'two.example/app:1'],
        push: true,
      }),
    ).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });
});
