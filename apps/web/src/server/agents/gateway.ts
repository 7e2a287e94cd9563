/**
 * The control plane's end of the agent link (WebSocket at /api/agent/ws, dialled by agents): hello → a fresh
 * challenge → the agent's Ed25519 signature over it, checked against the key stored at enrolment → welcome.
 * Then the agent's inventory and its deltas are kept on the host record, and the host is online until the
 * socket closes or stops answering pings. Every frame is parsed with the shared protocol schemas first.
 */
import { createPublicKey, randomBytes, randomUUID, verify } from 'node:crypto';
import { inventoryDigest } from '@berth/agent/link/client';
import {
  type AgentFrame,
  agentFrameSchema,
  type Command,
  challengePayload,
  type Inventory,
  inventorySchema,
  KEEPALIVE,
  PROTOCOL_VERSION,
  parseFrame,
  protocolCompatibility,
  REQUEST_TIMEOUT_MS,
  type ServerFrame,
  type StreamRequest,
} from '@berth/agent/protocol/messages';
import type { WebSocket } from 'ws';
import { recordAudit } from '../audit';
import { db } from '../db';
import { applyContainerRow, replaceInventoryRows } from '../hosts/inventory-rows';

const helloTimeoutMs = 10_000;
const digestIntervalMs = 60_000;

type Phase =
  | { kind: 'hello' }
  | { kind: 'auth'; hostId: string; nonce: string; agentVersion: string }
  | { kind: 'online'; hostId: string };

function send(socket: WebSocket, frame: ServerFrame): void {
  if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(frame));
}

function refuse(
  socket: WebSocket,
  code: 'unknown_host' | 'revoked' | 'bad_signature' | 'version',
  message: string,
): void {
  send(socket, { type: 'refused', code, message });
  socket.close(1008, code);
}

function applyDelta(inventory: Inventory, frame: Extract<AgentFrame, { type: 'event' }>): Inventory {
  if (frame.event.Type !== 'container') return inventory;
  const others = inventory.containers.filter((c) => c.id !== frame.event.Actor.ID);
  return {
    ...inventory,
    containers: frame.removed || !frame.container ? others : [...others, frame.container],
  };
}

export class AgentUnavailableError extends Error {
  override readonly name = 'AgentUnavailableError';
}

export class AgentCommandError extends Error {
  override readonly name = 'AgentCommandError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface Pending {
  socket: WebSocket;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export interface StreamChunk {
  stream: 'stdout' | 'stderr';
  data: Buffer;
}

interface OpenStream {
  socket: WebSocket;
  onData: (chunk: StreamChunk) => void;
  onEnd: (error?: string) => void;
}

/** Frames of credit the control plane grants at a time: the agent sends no more until granted again. */
const streamCredit = 64;

export class AgentGateway {
  readonly #live = new Map<string, WebSocket>();
  readonly #pending = new Map<string, Pending>();
  readonly #streams = new Map<string, OpenStream>();

  /**
   * Opens a stream (container logs) on a host's agent. Chunks arrive through `onData`; credit is granted
   * back as they are taken, so a slow reader slows the agent down instead of filling memory.
   */
  openStream(
    hostId: string,
    request: StreamRequest,
    handlers: { onData: (chunk: StreamChunk) => void; onEnd: (error?: string) => void },
    signal: AbortSignal,
  ): void {
    const socket = this.#live.get(hostId);
    if (!socket || socket.readyState !== socket.OPEN) throw new AgentUnavailableError('the host is offline');
    const streamId = randomUUID();
    let received = 0;
    this.#streams.set(streamId, {
      socket,
      onData: (chunk) => {
        handlers.onData(chunk);
        if (++received % (streamCredit / 2) === 0)
          send(socket, { type: 'stream.credit', streamId, credit: streamCredit / 2 });
      },
      onEnd: (error) => {
        this.#streams.delete(streamId);
        handlers.onEnd(error);
      },
    });
    signal.addEventListener(
      'abort',
      () => {
        if (!this.#streams.delete(streamId)) return;
        send(socket, { type: 'stream.close', streamId });
      },
      { once: true },
    );
    send(socket, { type: 'stream.open', streamId, request, credit: streamCredit });
  }

  /** Sends one command to a host's agent connected to this instance and waits for its result. */
  request(hostId: string, command: Command, timeoutMs = REQUEST_TIMEOUT_MS): Promise<unknown> {
    const socket = this.#live.get(hostId);
    if (!socket || socket.readyState !== socket.OPEN)
      return Promise.reject(new AgentUnavailableError('the host is offline'));
    const requestId = randomUUID();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(requestId);
        reject(new AgentUnavailableError('the agent did not answer in time'));
      }, timeoutMs);
      this.#pending.set(requestId, { socket, resolve, reject, timer });
      send(socket, { type: 'request', requestId, command });
    });
  }

  /** Ends a host's connection on this instance (it was revoked); its reconnects are refused at hello. */
  disconnect(hostId: string, reason: string): boolean {
    const socket = this.#live.get(hostId);
    if (!socket) return false;
    send(socket, { type: 'refused', code: 'revoked', message: reason });
    socket.close(1008, 'revoked');
    return true;
  }

  /** Hosts connected to this instance (for tests and, later, request routing). */
  connected(): string[] {
    return [...this.#live.keys()];
  }

  handle(socket: WebSocket, ip: string | null): void {
    let phase: Phase = { kind: 'hello' };
    let alive = true;
    let queue = Promise.resolve();
    const helloTimer = setTimeout(() => socket.close(1008, 'no hello'), helloTimeoutMs);
    const ping = setInterval(() => {
      if (!alive) {
        socket.terminate();
        return;
      }
      alive = false;
      socket.ping();
    }, KEEPALIVE.pingIntervalMs);
    socket.on('pong', () => {
      alive = true;
    });
    socket.on('message', (raw: Buffer) => {
      alive = true;
      queue = queue
        .then(async () => {
          let frame: AgentFrame;
          try {
            frame = parseFrame(agentFrameSchema, raw);
          } catch {
            socket.close(1007, 'malformed frame');
            return;
          }
          phase = await this.#step(socket, phase, frame, ip);
          if (phase.kind !== 'hello') clearTimeout(helloTimer);
        })
        .catch(() => socket.close(1011, 'internal error'));
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(helloTimer);
      clearInterval(ping);
      for (const stream of [...this.#streams.values()])
        if (stream.socket === socket) stream.onEnd('the agent disconnected');
      for (const [id, pending] of this.#pending)
        if (pending.socket === socket) {
          clearTimeout(pending.timer);
          this.#pending.delete(id);
          pending.reject(new AgentUnavailableError('the agent disconnected before answering'));
        }
      void queue.then(async () => {
        if (phase.kind !== 'online') return;
        const hostId = phase.hostId;
        if (this.#live.get(hostId) === socket) this.#live.delete(hostId);
        await db()
          .host.update({ where: { id: hostId }, data: { online: false, lastSeenAt: new Date() } })
          .catch(() => {});
      });
    });
  }

  async #step(socket: WebSocket, phase: Phase, frame: AgentFrame, ip: string | null): Promise<Phase> {
    if (phase.kind === 'hello') {
      if (frame.type !== 'hello') {
        socket.close(1008, 'hello expected');
        return phase;
      }
      const compatibility = protocolCompatibility(frame.protocolVersion);
      if (compatibility === 'unsupported') {
        refuse(
          socket,
          'version',
          `protocol ${frame.protocolVersion} is not supported; this control plane speaks ${PROTOCOL_VERSION}`,
        );
        return phase;
      }
      const host = /^[0-9a-f-]{36}$/.test(frame.hostId)
        ? await db().host.findUnique({ where: { id: frame.hostId } })
        : null;
      if (host?.revokedAt) {
        refuse(socket, 'revoked', 'this host was revoked by an admin of its team');
        return phase;
      }
      if (!host?.publicKey) {
        refuse(socket, 'unknown_host', 'this host is not enrolled here; enrol it again with a new token');
        return phase;
      }
      const nonce = randomBytes(32).toString('base64');
      send(socket, { type: 'challenge', nonce, serverVersion: PROTOCOL_VERSION });
      return { kind: 'auth', hostId: host.id, nonce, agentVersion: frame.agentVersion };
    }
    if (phase.kind === 'auth') {
      if (frame.type !== 'auth') {
        socket.close(1008, 'auth expected');
        return phase;
      }
      const host = await db().host.findUnique({ where: { id: phase.hostId } });
      if (!host?.publicKey || host.revokedAt) {
        refuse(socket, 'revoked', 'this host was removed from the control plane');
        return phase;
      }
      const key = createPublicKey({
        key: Buffer.from(host.publicKey, 'base64'),
        format: 'der',
        type: 'spki',
      });
      const valid = verify(
        null,
        challengePayload(phase.nonce, host.id),
        key,
        Buffer.from(frame.signature, 'base64'),
      );
      if (!valid) {
        refuse(socket, 'bad_signature', 'the challenge signature does not match the enrolled key');
        return phase;
      }
      this.#live.get(host.id)?.close(4000, 'replaced by a newer connection');
      this.#live.set(host.id, socket);
      await db().host.update({
        where: { id: host.id },
        data: { online: true, lastSeenAt: new Date(), agentVersion: phase.agentVersion },
      });
      await recordAudit({ action: 'agent.connected', teamId: host.teamId, target: host.id, ip });
      send(socket, {
        type: 'welcome',
        hostId: host.id,
        updateAvailable: protocolCompatibility(PROTOCOL_VERSION) === 'update_available',
        digestIntervalMs,
      });
      return { kind: 'online', hostId: host.id };
    }
    await this.#online(socket, phase.hostId, frame);
    return phase;
  }

  async #online(socket: WebSocket, hostId: string, frame: AgentFrame): Promise<void> {
    switch (frame.type) {
      case 'inventory':
        await db().$transaction(async (tx) => {
          const host = await tx.host.update({
            where: { id: hostId },
            data: { inventory: frame.inventory, lastSeenAt: new Date() },
          });
          await replaceInventoryRows(hostId, host.teamId, frame.inventory, tx);
        });
        return;
      case 'event': {
        const host = await db().host.findUnique({ where: { id: hostId } });
        const current = inventorySchema.safeParse(host?.inventory);
        if (!current.success) {
          send(socket, { type: 'resync' });
          return;
        }
        const teamId = host?.teamId ?? '';
        await db().$transaction(async (tx) => {
          await tx.host.update({
            where: { id: hostId },
            data: { inventory: applyDelta(current.data, frame), lastSeenAt: new Date() },
          });
          if (frame.event.Type !== 'container') return;
          if (frame.container) await applyContainerRow(hostId, teamId, { container: frame.container }, tx);
          else if (frame.removed)
            await applyContainerRow(hostId, teamId, { removedId: frame.event.Actor.ID }, tx);
        });
        return;
      }
      case 'digest': {
        const host = await db().host.findUnique({ where: { id: hostId } });
        const current = inventorySchema.safeParse(host?.inventory);
        const ours = current.success ? inventoryDigest(current.data) : undefined;
        // Containers are kept current by deltas; images change without them, so either mismatch resyncs.
        if (!ours || ours.containers !== frame.containers || ours.images !== frame.images)
          send(socket, { type: 'resync' });
        await db().host.update({ where: { id: hostId }, data: { lastSeenAt: new Date() } });
        return;
      }
      case 'result': {
        const pending = this.#pending.get(frame.requestId);
        if (!pending || pending.socket !== socket) return;
        this.#pending.delete(frame.requestId);
        clearTimeout(pending.timer);
        if (frame.ok) pending.resolve(frame.result);
        else
          pending.reject(
            new AgentCommandError(
              frame.error?.code ?? 'failed',
              frame.error?.message ?? 'the command failed',
            ),
          );
        return;
      }
      case 'stream.data': {
        const stream = this.#streams.get(frame.streamId);
        if (stream?.socket === socket)
          stream.onData({ stream: frame.stream, data: Buffer.from(frame.data, 'base64') });
        return;
      }
      case 'stream.end': {
        const stream = this.#streams.get(frame.streamId);
        if (stream?.socket === socket) stream.onEnd(frame.error?.message);
        return;
      }
      default:
        // Progress updates of long requests are not shown yet.
        return;
    }
  }
}

const holder = globalThis as unknown as { berthGateway?: AgentGateway };

/** The gateway of this process: made by the server (server.ts) and used by the app's procedures. */
export function gateway(): AgentGateway {
  holder.berthGateway ??= new AgentGateway();
  return holder.berthGateway;
}
