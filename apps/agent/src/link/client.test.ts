import { createPublicKey, verify } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import {
  type AgentFrame,
  agentFrameSchema,
  challengePayload,
  type Inventory,
  parseFrame,
} from '../protocol/messages';
import { ControlPlaneLink, type LinkBackend, type LinkState } from './client';
import { AgentIdentity } from './identity';

const inventory: Inventory = {
  facts: {
    hostname: 'h',
    os: 'Debian',
    kernel: '6',
    arch: 'x86_64',
    cpus: 2,
    memoryBytes: 1,
    runtimes: {},
    agentVersion: '0',
  },
  containers: [],
  images: [],
  volumes: [],
  networks: [],
};

/** A control plane's side of the handshake, written against the shared protocol module. */
async function startServer(identity: AgentIdentity, hostId: string, refuse?: 'revoked') {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/api/agent/ws' });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const frames: AgentFrame[] = [];
  const sockets: WebSocket[] = [];
  let waiters: Array<() => void> = [];
  server.on('connection', (socket) => {
    sockets.push(socket);
    socket.on('message', (raw: Buffer) => {
      const frame = parseFrame(agentFrameSchema, raw);
      frames.push(frame);
      for (const wake of waiters) wake();
      waiters = [];
      if (frame.type === 'hello') {
        if (refuse)
          socket.send(JSON.stringify({ type: 'refused', code: refuse, message: 'this host was revoked' }));
        else socket.send(JSON.stringify({ type: 'challenge', nonce: 'n-1', serverVersion: 1 }));
      }
      if (frame.type === 'auth') {
        const key = createPublicKey({
          key: Buffer.from(identity.publicKey, 'base64'),
          format: 'der',
          type: 'spki',
        });
        const ok = verify(null, challengePayload('n-1', hostId), key, Buffer.from(frame.signature, 'base64'));
        socket.send(
          JSON.stringify(
            ok
              ? { type: 'welcome', hostId, updateAvailable: false, digestIntervalMs: 60_000 }
              : { type: 'refused', code: 'bad_signature', message: 'bad signature' },
          ),
        );
      }
    });
  });
  const until = async (predicate: () => boolean) => {
    while (!predicate()) await new Promise<void>((resolve) => waiters.push(resolve));
  };
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    frames,
    sockets,
    until,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function identityFor(): Promise<AgentIdentity> {
  const root = await mkdtemp(join(tmpdir(), 'bt-link-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  return AgentIdentity.load(root);
}

function backend(calls: string[]): LinkBackend {
  return {
    facts: async () => inventory.facts,
    inventory: async () => inventory,
    async *deltas(signal) {
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    },
    execute: async (command) => {
      calls.push(command.kind);
      return { done: command.kind };
    },
    openStream: async (_request, sink) => {
      for (let i = 0; i < 5; i++) await sink.write({ stream: 'stdout', data: Buffer.from(`line ${i}\n`) });
      return {};
    },
  };
}

describe('ControlPlaneLink', () => {
  it('authenticates by signature, sends inventory, and runs a redelivered request once', async () => {
    const identity = await identityFor();
    const server = await startServer(identity, 'host-1');
    cleanups.push(server.close);
    const calls: string[] = [];
    const link = new ControlPlaneLink({
      controlPlane: server.url,
      hostId: 'host-1',
      identity,
      backend: backend(calls),
      log: pino({ level: 'silent' }),
      agentVersion: '0.1.0',
    }).start();
    cleanups.push(() => link.close());
    await server.until(() => server.frames.some((f) => f.type === 'inventory'));
    expect(link.state).toBe('online');

    const request = {
      type: 'request',
      requestId: 'r-1',
      command: { kind: 'container.start', containerId: 'c' },
    };
    server.sockets[0]?.send(JSON.stringify(request));
    server.sockets[0]?.send(JSON.stringify(request));
    await server.until(() => server.frames.filter((f) => f.type === 'result').length === 2);
    expect(calls).toEqual(['container.start']);
    expect(server.frames.filter((f) => f.type === 'result')).toEqual([
      { type: 'result', requestId: 'r-1', ok: true, result: { done: 'container.start' } },
      { type: 'result', requestId: 'r-1', ok: true, result: { done: 'container.start' } },
    ]);
  });

  it('sends stream data only as far as the control plane gives credit', async () => {
    const identity = await identityFor();
    const server = await startServer(identity, 'host-2');
    cleanups.push(server.close);
    const link = new ControlPlaneLink({
      controlPlane: server.url,
      hostId: 'host-2',
      identity,
      backend: backend([]),
      log: pino({ level: 'silent' }),
      agentVersion: '0.1.0',
    }).start();
    cleanups.push(() => link.close());
    await server.until(() => server.frames.some((f) => f.type === 'inventory'));
    const open = {
      type: 'stream.open',
      streamId: 's-1',
      credit: 2,
      request: { kind: 'logs', containerId: 'c' },
    };
    server.sockets[0]?.send(JSON.stringify(open));
    await server.until(() => server.frames.filter((f) => f.type === 'stream.data').length === 2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.frames.filter((f) => f.type === 'stream.data')).toHaveLength(2);
    server.sockets[0]?.send(JSON.stringify({ type: 'stream.credit', streamId: 's-1', credit: 10 }));
    await server.until(() => server.frames.some((f) => f.type === 'stream.end'));
    const lines = server.frames.flatMap((f) =>
      f.type === 'stream.data' ? [Buffer.from(f.data, 'base64').toString()] : [],
    );
    expect(lines.join('')).toBe('line 0\nline 1\nline 2\nline 3\nline 4\n');
  });

  it('reconnects after the connection drops, and stops for good when revoked', async () => {
    const identity = await identityFor();
    const server = await startServer(identity, 'host-3');
    cleanups.push(server.close);
    const states: LinkState[] = [];
    const link = new ControlPlaneLink({
      controlPlane: server.url,
      hostId: 'host-3',
      identity,
      backend: backend([]),
      log: pino({ level: 'silent' }),
      agentVersion: '0.1.0',
      random: () => 0,
      onState: (state) => states.push(state),
    }).start();
    cleanups.push(() => link.close());
    await server.until(() => server.frames.filter((f) => f.type === 'inventory').length === 1);
    server.sockets[0]?.terminate();
    await server.until(() => server.frames.filter((f) => f.type === 'inventory').length === 2);
    expect(states).toEqual(['online', 'reconnecting', 'online']);

    const revoked = await startServer(identity, 'host-3', 'revoked');
    cleanups.push(revoked.close);
    const refusedStates: LinkState[] = [];
    const refusedLink = new ControlPlaneLink({
      controlPlane: revoked.url,
      hostId: 'host-3',
      identity,
      backend: backend([]),
      log: pino({ level: 'silent' }),
      agentVersion: '0.1.0',
      random: () => 0,
      onState: (state) => refusedStates.push(state),
    }).start();
    cleanups.push(() => refusedLink.close());
    await revoked.until(() => revoked.frames.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(refusedLink.state).toBe('refused');
    expect(revoked.frames.filter((f) => f.type === 'hello')).toHaveLength(1);
  });
});
