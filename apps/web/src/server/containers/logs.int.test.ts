/**
 * Live logs end to end with real parts: a real engine (runc, conmon) running busybox containers, the real agent
 * link and backend over a real WebSocket to one of two control-plane instances on a real PostgreSQL, read from
 * the same instance or through the other one (LISTEN/NOTIFY). A slow reader of a fast writer keeps the agent's
 * outstanding bytes under the window while the log file grows far past what was sent; merged containers come out
 * in time order; closing the reader ends the agent's stream.
 */
import { stat } from 'node:fs/promises';
import type { ControlPlaneLink } from '@berth/agent/link/client';
import type { Engine } from '@berth/engine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type GatewayInstance,
  type LinkedAgent,
  startGatewayInstance,
  startLinkedAgent,
} from '../agents/testing';
import { AgentPeer, agentKeys } from '../hosts/agent-peer';
import { type ControlPlaneHarness, startControlPlane } from '../teams/testing';

interface Event {
  name: string;
  data: unknown;
}

/** Reads server-sent events off a stream, as the browser's reader does, one `read()` at a time. */
function eventReader(stream: ReadableStream<Uint8Array>) {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  return {
    reader,
    /** One read of the stream: the events it completed. */
    async next(): Promise<Event[] | undefined> {
      const { value, done } = await reader.read();
      if (done) return undefined;
      buffer += decoder.decode(value, { stream: true });
      const events: Event[] = [];
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const name = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (name && data !== undefined) events.push({ name, data: JSON.parse(data) });
        end = buffer.indexOf('\n\n');
      }
      return events;
    },
  };
}

interface Line {
  s: number;
  stream: string;
  text: string;
  time?: string;
}

describe('live logs with flow control', () => {
  let cp: ControlPlaneHarness;
  let agent: LinkedAgent;
  let a: GatewayInstance;
  let b: GatewayInstance;
  let engine: Engine;
  let link: ControlPlaneLink;
  let teamId: string;
  let hostId: string;
  let logs: typeof import('./logs');
  let schemas: typeof import('./schemas');

  beforeAll(async () => {
    cp = await startControlPlane('logs');
    // The agent is linked to a; b reaches it through the bus. Each reader is given its instance's gateway.
    agent = await startLinkedAgent(cp, 'logs');
    ({ engine, teamId, hostId, link, gateway: a } = agent);
    b = await startGatewayInstance();
    logs = await import('./logs');
    schemas = await import('./schemas');
  });
  afterAll(async () => {
    await agent?.close();
    await b?.close();
    await cp?.stop();
  });

  async function run(script: string, labels: Record<string, string> = {}): Promise<string> {
    const { Id } = await engine.containers.create({
      Image: 'busybox',
      Cmd: ['sh', '-c', script],
      Labels: labels,
      HostConfig: { NetworkMode: 'none' },
    });
    await engine.containers.start(Id);
    // The control plane knows it once the agent's delta is applied.
    await expect
      .poll(() => cp.db.db().hostContainer.count({ where: { hostId, containerId: Id } }), { timeout: 10_000 })
      .toBe(1);
    return Id;
  }

  function input(query: string) {
    return schemas.logsInput.parse(schemas.logsQuery(new URLSearchParams(`teamId=${teamId}&${query}`)));
  }

  for (const via of ['local', 'relayed'] as const) {
    it(`a slow reader of a fast writer keeps the agent under its window (${via})`, async () => {
      // 40 MB of 100-byte lines as fast as busybox can write them, then quiet.
      const id = await run(
        'i=0; while [ $i -lt 400000 ]; do echo "$i abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghij"; i=$((i+1)); done; sleep 3600',
      );
      const closed = new AbortController();
      const stream = await logs.containerLogStream(
        input(`hostId=${hostId}&containerId=${id}&tail=0`),
        closed.signal,
        via === 'local' ? a.gateway : b.gateway,
      );
      const events = eventReader(stream);
      let lines = 0;
      const started = Date.now();
      // A reader that takes one chunk every 100 ms: far slower than the container writes.
      while (Date.now() - started < 4000) {
        for (const e of (await events.next()) ?? []) if (e.name === 'line') lines++;
        await new Promise((r) => setTimeout(r, 100));
      }
      const [stats] = link.streamStats();
      expect(stats).toMatchObject({ kind: 'logs', window: logs.logWindowBytes });
      expect(stats?.maxOutstandingBytes).toBeLessThanOrEqual(logs.logWindowBytes);
      expect(stats?.outstandingBytes).toBeGreaterThan(0);
      const { LogPath } = await engine.containers.inspect(id);
      const written = (await stat(LogPath)).size;
      // What the agent read and sent stays near what the reader took, while the file grew far past it.
      expect(written).toBeGreaterThan(10 * 1024 * 1024);
      expect(stats?.sentBytes ?? 0).toBeLessThan(3 * 1024 * 1024);
      expect(lines).toBeGreaterThan(20);
      // A reader that catches up gets everything in order.
      let last = -1;
      let ordered = true;
      for (let i = 0; i < 200; i++) {
        for (const e of (await events.next()) ?? []) {
          if (e.name !== 'line') continue;
          const n = Number((e.data as Line).text.split(' ')[0]);
          if (last >= 0 && n !== last + 1) ordered = false;
          last = n;
        }
      }
      expect(ordered).toBe(true);
      // Closing the reader (the page going away) ends the stream on the agent.
      closed.abort();
      await events.reader.cancel().catch(() => {});
      await expect.poll(() => link.streamStats().length, { timeout: 10_000 }).toBe(0);
      await engine.containers.remove(id, { force: true });
    });
  }

  it('merges the containers of one label in time order, stdout and stderr marked', async () => {
    const label = { 'bt-logs': `merge-${Date.now()}` };
    const script = (name: string) =>
      `i=0; while [ $i -lt 30 ]; do echo "${name} $i"; echo "${name} err $i" >&2; i=$((i+1)); usleep 20000; done; sleep 3600`;
    const first = await run(script('alpha'), label);
    const second = await run(script('beta'), label);
    const closed = new AbortController();
    const stream = await logs.containerLogStream(
      input(`label=${encodeURIComponent(`bt-logs=${label['bt-logs']}`)}&tail=1000`),
      closed.signal,
      b.gateway,
    );
    const events = eventReader(stream);
    const lines: Line[] = [];
    let sources: Array<{ containerId: string }> = [];
    const deadline = Date.now() + 30_000;
    while (lines.length < 120 && Date.now() < deadline) {
      for (const e of (await events.next()) ?? []) {
        if (e.name === 'sources') sources = e.data as typeof sources;
        if (e.name === 'line') lines.push(e.data as Line);
      }
    }
    closed.abort();
    await events.reader.cancel().catch(() => {});
    expect(sources.map((s) => s.containerId).sort()).toEqual([first, second].sort());
    expect(lines).toHaveLength(120);
    const times = lines.map((l) => l.time ?? '');
    expect(times.every((t) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/.test(t))).toBe(true);
    expect([...times].sort()).toEqual(times);
    const name = (l: Line) => sources[l.s]?.containerId;
    expect(lines.filter((l) => name(l) === first)).toHaveLength(60);
    expect(lines.filter((l) => name(l) === second)).toHaveLength(60);
    // Interleaved, not one container after the other.
    const switches = lines.filter((l, i) => i > 0 && l.s !== lines[i - 1]?.s).length;
    expect(switches).toBeGreaterThan(20);
    for (const l of lines) expect(l.stream).toBe(l.text.includes(' err ') ? 'stderr' : 'stdout');
    await expect.poll(() => link.streamStats().length, { timeout: 10_000 }).toBe(0);
  });

  it('a protocol 1 agent (frame credit, no window) is admitted and given credit only as the reader takes lines', async () => {
    const prisma = cp.db.db();
    const { privateKey, publicKey } = agentKeys();
    const old = await prisma.host.create({ data: { teamId, name: 'bt-logs-v1', publicKey } });
    const peer = await AgentPeer.open(`${a.url.replace('http', 'ws')}/api/agent/ws`);
    try {
      expect(await peer.authenticate(old.id, privateKey, 1)).toMatchObject({
        type: 'welcome',
        updateAvailable: true,
      });
      const containerId = 'e'.repeat(64);
      const facts = {
        hostname: 'bt-v1',
        os: 'Linux',
        kernel: '6',
        arch: 'x64',
        cpus: 1,
        memoryBytes: 1,
        runtimes: {},
        agentVersion: 'old',
      };
      peer.send({
        type: 'inventory',
        inventory: {
          facts,
          containers: [
            {
              id: containerId,
              name: 'bt-v1-app',
              image: 'busybox',
              imageId: 'sha256:x',
              command: 'sh',
              state: 'running',
              status: 'Up',
              created: 1,
              labels: {},
              ports: [],
              networks: [],
            },
          ],
          images: [],
          volumes: [],
          networks: [],
        },
      });
      await expect
        .poll(() => prisma.hostContainer.count({ where: { hostId: old.id, containerId } }), {
          timeout: 10_000,
        })
        .toBe(1);
      const closed = new AbortController();
      const stream = await logs.containerLogStream(
        input(`hostId=${old.id}&containerId=${containerId}&tail=0`),
        closed.signal,
        a.gateway,
      );
      const open = await peer.next('stream.open');
      expect(open.credit).toBe(64);
      // As a version 1 agent: 64 frames (4 KiB lines, 256 KiB in all), then nothing until credit comes.
      const line = `${'x'.repeat(4095)}\n`;
      for (let seq = 0; seq < 64; seq++)
        peer.send({
          type: 'stream.data',
          streamId: open.streamId,
          seq,
          stream: 'stdout',
          data: Buffer.from(line).toString('base64'),
          time: `2026-11-23T10:00:00.${String(seq).padStart(9, '0')}Z`,
        });
      const granted = () =>
        peer.frames
          .filter((f) => f.type === 'stream.credit' && f.streamId === open.streamId)
          .reduce((sum, f) => sum + (f.type === 'stream.credit' ? f.credit : 0), 0);
      // Nobody reads the response: only what its small buffer took is acknowledged.
      await new Promise((r) => setTimeout(r, 500));
      expect(granted()).toBeGreaterThan(0);
      expect(granted()).toBeLessThan(32);
      const events = eventReader(stream);
      let lines = 0;
      while (lines < 64) for (const e of (await events.next()) ?? []) if (e.name === 'line') lines++;
      await expect.poll(granted, { timeout: 5000 }).toBe(64);
      closed.abort();
      await events.reader.cancel().catch(() => {});
      expect((await peer.next('stream.close')).streamId).toBe(open.streamId);
    } finally {
      peer.close();
    }
  });

  it('a holder keeps a relayed stream while its reader vouches for it, and ends it on the agent when that reader crashed', async () => {
    const relayTimings = { keepaliveMs: 200, idleMs: 1500 };
    const holder = await startGatewayInstance(0, { relayTimings });
    const reader = await startGatewayInstance(0, { relayTimings });
    const prisma = cp.db.db();
    const { privateKey, publicKey } = agentKeys();
    const host = await prisma.host.create({ data: { teamId, name: 'bt-logs-relay', publicKey } });
    const peer = await AgentPeer.open(`${holder.url.replace('http', 'ws')}/api/agent/ws`);
    try {
      expect(await peer.authenticate(host.id, privateKey)).toMatchObject({ type: 'welcome' });
      const opened = new AbortController();
      await reader.gateway.openStream(
        host.id,
        { kind: 'logs', containerId: 'f'.repeat(64), tail: 0, follow: true, timestamps: true },
        { onData: () => {}, onEnd: () => {} },
        opened.signal,
        { window: logs.logWindowBytes },
      );
      const open = await peer.next('stream.open');
      // Quiet for longer than the idle limit: the reader's keep-alives hold the stream open.
      await new Promise((r) => setTimeout(r, 2500));
      expect(peer.frames.some((f) => f.type === 'stream.close')).toBe(false);
      // The reader's instance goes away without a word: the holder closes the agent's stream.
      await reader.close();
      expect((await peer.next('stream.close')).streamId).toBe(open.streamId);
      opened.abort();
    } finally {
      peer.close();
      await holder.close();
      await reader.close().catch(() => {});
    }
  });
});
