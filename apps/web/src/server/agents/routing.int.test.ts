/**
 * Two control-plane instances over one real PostgreSQL, each with its own agent WebSocket endpoint and its own
 * bus: an agent (the real link client, over a real WebSocket) connected to instance A is driven from instance
 * B, whose requests, log streams and revocations travel through LISTEN/NOTIFY, never through memory.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ControlPlaneLink, LinkBackend } from '@berth/agent/link/client';
import type { Command } from '@berth/agent/protocol/messages';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPlaneHarness, startControlPlane } from '../teams/testing';
import { type GatewayInstance, linkHost, madeUpFacts, startGatewayInstance } from './testing';

type Instance = GatewayInstance;

const facts = madeUpFacts('bt-routed');

describe('several control-plane instances serve one fleet', () => {
  let cp: ControlPlaneHarness;
  let a: Instance;
  let b: Instance;
  let root: string;
  const executed: Command[] = [];
  const streamsClosed: string[] = [];

  const backend: LinkBackend = {
    facts: async () => facts,
    inventory: async () => ({ facts, containers: [], images: [], volumes: [], networks: [] }),
    async *deltas(signal) {
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    },
    async execute(command) {
      executed.push(command);
      if (command.kind === 'container.inspect')
        return { Id: command.containerId, padding: 'x'.repeat(20_000) };
      if (command.kind === 'container.kill')
        throw Object.assign(new Error('No such container: gone'), { code: 'not_found' });
      return { done: command.kind };
    },
    async openStream(request, sink, signal) {
      for (let i = 0; i < 150 && !signal.aborted; i++)
        await sink.write({ stream: i % 2 ? 'stderr' : 'stdout', data: Buffer.from(`line ${i}\n`) });
      if (request.kind === 'logs' && request.follow)
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      if (signal.aborted) streamsClosed.push(request.kind === 'logs' ? request.containerId : 'exec');
      return {};
    },
  };

  beforeAll(async () => {
    cp = await startControlPlane('routing');
    root = await mkdtemp(join(tmpdir(), 'bt-routing-'));
    a = await startGatewayInstance();
    b = await startGatewayInstance();
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await cp?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  /** A new host's agent linked to `to`, or `existing`'s again. */
  async function connectAgent(
    to: Instance,
    existing?: { teamId: string; hostId: string; dir: string },
  ): Promise<{ teamId: string; hostId: string; dir: string; link: ControlPlaneLink }> {
    const dir = existing?.dir ?? (await mkdtemp(join(root, 'agent-')));
    return { ...(await linkHost(cp, to, backend, { dir, host: existing ?? 'bt-routed' })), dir };
  }

  it('routes requests, large results and command errors from the instance without the agent', async () => {
    const { hostId, link } = await connectAgent(a);
    try {
      const row = await cp.db.db().host.findUniqueOrThrow({ where: { id: hostId } });
      expect(row).toMatchObject({ online: true, connectedInstance: a.bus.instanceId });
      expect(b.gateway.connected()).not.toContain(hostId);

      const id = 'f'.repeat(64);
      expect(await b.gateway.request(hostId, { kind: 'container.restart', containerId: id })).toEqual({
        done: 'container.restart',
      });
      expect(executed.at(-1)).toMatchObject({ kind: 'container.restart', containerId: id });
      // Over NOTIFY's 8000 bytes: parked in instance_message, taken out by the receiver.
      const inspected = (await b.gateway.request(hostId, { kind: 'container.inspect', containerId: id })) as {
        padding: string;
      };
      expect(inspected.padding).toHaveLength(20_000);
      expect(await cp.db.db().instanceMessage.count()).toBe(0);
      await expect(
        b.gateway.request(hostId, { kind: 'container.kill', containerId: id }),
      ).rejects.toMatchObject({
        name: 'AgentCommandError',
        code: 'not_found',
        message: 'No such container: gone',
      });
    } finally {
      await link.close();
    }
    await expect
      .poll(async () => (await cp.db.db().host.findUniqueOrThrow({ where: { id: hostId } })).online)
      .toBe(false);
    await expect(
      b.gateway.request(hostId, { kind: 'container.start', containerId: 'a'.repeat(64) }),
    ).rejects.toMatchObject({ name: 'AgentUnavailableError' });
  });

  it('admits at most 200 handshakes at once: the next socket is told to come back (1013) until one ends', async () => {
    const { WebSocket } = await import('ws');
    const wsUrl = `${a.url.replace('http', 'ws')}/api/agent/ws`;
    const open = (): Promise<{ ws: InstanceType<typeof WebSocket>; closed: Promise<number> }> =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(wsUrl);
        const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
        ws.once('open', () => resolve({ ws, closed }));
        ws.once('error', reject);
      });
    // Sockets that never say hello hold their handshake slot until the hello timeout.
    const waiting = await Promise.all(Array.from({ length: 200 }, open));
    try {
      const refused = await open();
      expect(await refused.closed).toBe(1013);
      const first = waiting.shift();
      first?.ws.close();
      await first?.closed;
      await new Promise((r) => setTimeout(r, 50));
      const admitted = await open();
      const outcome = await Promise.race([
        admitted.closed,
        new Promise((r) => setTimeout(() => r('still open'), 300)),
      ]);
      expect(outcome).toBe('still open');
      admitted.ws.close();
    } finally {
      for (const { ws } of waiting) ws.close();
    }
  });

  it("tells every instance when a team's fleet changes, and streams it to that team's pages only", async () => {
    const seenOnB: string[] = [];
    b.gateway.onFleetChange((teamId) => seenOnB.push(teamId));
    const { hostId, link } = await connectAgent(a);
    try {
      const { teamId } = await cp.db.db().host.findUniqueOrThrow({ where: { id: hostId } });
      // The agent came online on A: B hears it through PostgreSQL.
      await expect.poll(() => seenOnB.includes(teamId), { timeout: 5000 }).toBe(true);

      const { fleetChangeStream, fleetEvents } = await import('./fleet-events');
      const closed = new AbortController();
      const reader = fleetChangeStream(teamId, closed.signal).getReader();
      const decoder = new TextDecoder();
      let received = '';
      const arrivals: number[] = [];
      const reading = (async () => {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          const text = decoder.decode(value);
          if (text.includes('event: change')) arrivals.push(performance.now());
          received += text;
        }
      })();
      fleetEvents().emit('change', crypto.randomUUID());
      await new Promise((r) => setTimeout(r, 400));
      expect(received).not.toContain('event: change');
      const events = () => received.split('event: change').length - 1;
      // The first change of a quiet stream goes out at once, the rest of the burst as one more event a
      // coalescing window (200 ms) later.
      for (let i = 0; i < 5; i++) fleetEvents().emit('change', teamId);
      await expect.poll(events, { timeout: 2000 }).toBe(2);
      const [first, second] = arrivals.slice(-2) as [number, number];
      expect(second - first).toBeGreaterThan(100);
      await new Promise((r) => setTimeout(r, 400));
      expect(events()).toBe(2);
      closed.abort();
      await reading;
      expect(fleetEvents().listenerCount('change')).toBe(0);
    } finally {
      await link.close();
    }
  });

  it('relays a log stream with credit, in order, and closing it on the reading instance ends it on the agent', async () => {
    const { hostId, link } = await connectAgent(a);
    try {
      const lines: string[] = [];
      const controller = new AbortController();
      let ended: string | undefined | null = null;
      await b.gateway.openStream(
        hostId,
        { kind: 'logs', containerId: 'c'.repeat(64), tail: 200, follow: true, timestamps: false },
        {
          onData: (chunk) => lines.push(`${chunk.stream}:${chunk.data.toString().trim()}`),
          onEnd: (error) => {
            ended = error;
          },
        },
        controller.signal,
      );
      await expect.poll(() => lines.length, { timeout: 10_000 }).toBe(150);
      expect(lines.slice(0, 3)).toEqual(['stdout:line 0', 'stderr:line 1', 'stdout:line 2']);
      expect(lines.at(-1)).toBe('stderr:line 149');
      expect(ended).toBeNull();
      controller.abort();
      await expect.poll(() => streamsClosed.includes('c'.repeat(64)), { timeout: 10_000 }).toBe(true);
    } finally {
      await link.close();
    }
  });

  it('the agent moving to the other instance is not marked offline by the one it left; revocation reaches it', async () => {
    const first = await connectAgent(a);
    const second = await connectAgent(b, first);
    const prisma = cp.db.db();
    try {
      await first.link.close();
      await expect.poll(() => a.gateway.connected().includes(first.hostId)).toBe(false);
      // A's goodbye came after B's welcome: the host stays online, held by B.
      await new Promise((r) => setTimeout(r, 300));
      expect(await prisma.host.findUniqueOrThrow({ where: { id: first.hostId } })).toMatchObject({
        online: true,
        connectedInstance: b.bus.instanceId,
      });
      expect(
        await a.gateway.request(first.hostId, { kind: 'container.stop', containerId: 'd'.repeat(64) }),
      ).toEqual({ done: 'container.stop' });
      await prisma.host.update({ where: { id: first.hostId }, data: { revokedAt: new Date() } });
      expect(a.gateway.disconnect(first.hostId, 'revoked in a test')).toBe(false);
      await expect.poll(() => b.gateway.connected().includes(first.hostId), { timeout: 10_000 }).toBe(false);
      await expect.poll(() => second.link.state, { timeout: 10_000 }).toBe('refused');
    } finally {
      await first.link.close();
      await second.link.close();
    }
  });
});
