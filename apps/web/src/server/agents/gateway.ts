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
  commandSupported,
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
import { forgetVanished, recordStateEvent } from '../containers/history';
import { db } from '../db';
import { applyContainerRow, replaceInventoryRows } from '../hosts/inventory-rows';
import { log } from '../log';
import type { BusMessage, InstanceBus } from './bus';

const helloTimeoutMs = 10_000;
const digestIntervalMs = 60_000;

type Phase =
  | { kind: 'hello' }
  | { kind: 'auth'; hostId: string; nonce: string; agentVersion: string; protocolVersion: number }
  | { kind: 'online'; hostId: string };

function send(socket: WebSocket, frame: ServerFrame): void {
  if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(frame));
}

function refuse(
  socket: WebSocket,
  code: 'unknown_host' | 'revoked' | 'bad_signature' | 'version',
  message: string,
): void {
  log().warn({ code }, 'agent refused');
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

/** Why an agent could not answer: never reached, gone before answering, or silent past the deadline. */
export type UnavailableReason = 'offline' | 'disconnected' | 'timeout';

export class AgentUnavailableError extends Error {
  override readonly name = 'AgentUnavailableError';
  constructor(
    message: string,
    readonly reason: UnavailableReason = 'offline',
  ) {
    super(message);
  }
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

/*
 * By name, not instanceof: the production build bundles the app's copy of this module apart from the one the
 * custom server (server.ts) loads and whose gateway throws, so the two classes are not the same object.
 */
export function isAgentUnavailable(error: unknown): error is AgentUnavailableError {
  return error instanceof Error && error.name === 'AgentUnavailableError';
}

export function isAgentCommandError(error: unknown): error is AgentCommandError {
  return error instanceof Error && error.name === 'AgentCommandError';
}

interface Pending {
  socket: WebSocket;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
  onProgress?: ProgressListener;
}

/** Progress events of a long request (an image pull's per-layer lines), as the agent reports them. */
export type ProgressListener = (updates: Array<Record<string, unknown>>) => void;

/** A holder forwards a remote request's progress to its asker at most this often, newest per layer. */
const progressRelayMs = 250;

export interface StreamChunk {
  stream: 'stdout' | 'stderr';
  data: Buffer;
  /** When the agent was asked for timestamps: the line's time, RFC 3339 with nanoseconds. */
  time?: string;
}

/**
 * Who reads a stream. `ack` gives the chunk's credit back to the agent; with `manualAck` the reader calls it
 * once its own consumer took the chunk (so a slow browser stops the agent), otherwise the gateway calls it.
 */
export interface StreamHandlers {
  onData: (chunk: StreamChunk, ack: () => void) => void;
  onEnd: (error?: string) => void;
}

export interface StreamOptions {
  /** Bytes the agent may have sent and not had acknowledged (protocol 2; older agents count frames only). */
  window?: number;
  /** The reader acknowledges each chunk itself; implied by `window`. */
  manualAck?: boolean;
}

interface OpenStream {
  socket: WebSocket;
  onData: (chunk: StreamChunk) => void;
  onEnd: (error?: string) => void;
}

/** Frames of credit the control plane grants at a time: the agent sends no more until granted again. */
const streamCredit = 64;

/** Acknowledged credit still below a grant's threshold is sent after this long, so a quiet stream never stalls. */
const creditFlushMs = 10;

/**
 * Acknowledgements gathered into `stream.credit` grants: at half the frame credit, at a quarter of the byte
 * window, or after a short delay, whichever comes first (one grant per line would double the frames).
 */
class CreditGrant {
  #frames = 0;
  #bytes = 0;
  #timer: NodeJS.Timeout | undefined;
  constructor(
    private readonly grant: (frames: number, bytes: number) => void,
    private readonly window?: number,
    private readonly frames = streamCredit / 2,
  ) {}

  ack(bytes: number): void {
    this.#frames++;
    this.#bytes += bytes;
    if (this.#frames >= this.frames || (this.window !== undefined && this.#bytes >= this.window / 4))
      this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), creditFlushMs);
  }

  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#frames === 0) return;
    const frames = this.#frames;
    const bytes = this.#bytes;
    this.#frames = 0;
    this.#bytes = 0;
    this.grant(frames, bytes);
  }

  dispose(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** Base64 bytes of chunks a relaying instance puts in one bus message (NOTIFY takes under 8000). */
const relayBatchBytes = 5000;

/** Handshakes (hello to welcome) one instance runs at once; more wait outside, in their agents' backoff. */
const maxConcurrentHandshakes = 200;

interface RemoteRequest {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
  onProgress?: ProgressListener;
}

interface RemoteStream {
  handlers: StreamHandlers;
  holder: string;
  manualAck: boolean;
  grant: CreditGrant;
}

/**
 * A stream this instance relays for a reader on another one. Chunks are passed on as they come; their acks wait
 * here, oldest first, until the reader's credit says it took them, so the agent's window spans both instances.
 */
interface RelayedStream {
  to: string;
  acks: Array<() => void>;
  /** Chunks gathered for the next bus message. */
  outbox: Array<{ stream: 'stdout' | 'stderr'; data: string; time?: string }>;
  outboxBytes: number;
  flushing?: NodeJS.Immediate;
  abort: AbortController;
  handle?: StreamHandle;
  /** When the reader's instance last spoke for this stream (credit, keep-alive, input). */
  heard: number;
}

/**
 * How often a reading instance tells holders its relayed streams are still read, and how long a holder keeps a
 * relay whose reader said nothing: an instance that crashed never sends `stream.close`, and its streams would
 * otherwise hold their agents' followers (and windows) for good. A paused browser still counts as read.
 */
export interface RelayTimings {
  keepaliveMs: number;
  idleMs: number;
}
const defaultRelayTimings: RelayTimings = { keepaliveMs: 20_000, idleMs: 60_000 };

/** What the opener of a stream can send into it: keystrokes and terminal sizes (exec consoles). */
export interface StreamHandle {
  input(data: Buffer): void;
  resize(rows: number, cols: number): void;
}

export class AgentGateway {
  readonly #live = new Map<string, WebSocket>();
  /** The protocol version each connected agent speaks, for the commands an older one lacks. */
  readonly #protocolOf = new WeakMap<WebSocket, number>();
  readonly #pending = new Map<string, Pending>();
  readonly #streams = new Map<string, OpenStream>();
  #bus: InstanceBus | undefined;
  #handshakes = 0;
  /** Requests this instance sent to the instance holding the agent, by id. */
  readonly #remoteRequests = new Map<string, RemoteRequest>();
  /** Streams this instance reads through the instance holding the agent, by id. */
  readonly #remoteStreams = new Map<string, RemoteStream>();
  /** Streams this instance relays to the instance that asked for them, by id. */
  readonly #relayed = new Map<string, RelayedStream>();
  readonly #relayTimings: RelayTimings;
  #relayTimer: NodeJS.Timeout | undefined;

  constructor(options: { relayTimings?: Partial<RelayTimings> } = {}) {
    this.#relayTimings = { ...defaultRelayTimings, ...options.relayTimings };
  }

  /**
   * One timer for both ends of relayed streams, running while there are any: tells holders which of their
   * streams this instance still reads, and gives up relays whose reader went silent.
   */
  #relayHousekeeping(): void {
    if (this.#relayTimer) return;
    const tick = Math.min(this.#relayTimings.keepaliveMs, this.#relayTimings.idleMs / 3);
    this.#relayTimer = setInterval(() => {
      const bus = this.#bus;
      if (this.#remoteStreams.size === 0 && this.#relayed.size === 0) {
        clearInterval(this.#relayTimer);
        this.#relayTimer = undefined;
        return;
      }
      if (!bus) return;
      const now = Date.now();
      const byHolder = new Map<string, string[]>();
      for (const [id, stream] of this.#remoteStreams)
        byHolder.set(stream.holder, [...(byHolder.get(stream.holder) ?? []), id]);
      for (const [holder, ids] of byHolder)
        for (let i = 0; i < ids.length; i += 1000)
          void bus.send(holder, { kind: 'stream.alive', ids: ids.slice(i, i + 1000) }).catch(() => {});
      for (const [id, relay] of this.#relayed)
        if (now - relay.heard > this.#relayTimings.idleMs) {
          this.#relayed.delete(id);
          clearImmediate(relay.flushing);
          relay.abort.abort();
          log().warn({ streamId: id, reader: relay.to }, 'relayed stream given up: its reader went silent');
        }
    }, tick);
    this.#relayTimer.unref();
  }

  /**
   * Joins the instances serving this fleet: agents connected elsewhere are reached through the instance
   * holding them (see bus.ts), and this instance answers for the agents it holds.
   */
  attachBus(bus: InstanceBus): void {
    this.#bus = bus;
  }

  #onlineListeners: Array<(hostId: string) => void> = [];
  #fleetListeners: Array<(teamId: string) => void> = [];

  /** Called when a team's fleet changed, on this instance or (through the bus) on any other. */
  onFleetChange(listener: (teamId: string) => void): void {
    this.#fleetListeners.push(listener);
  }

  #fleetChanged(teamId: string, fromBus = false): void {
    if (!teamId) return;
    for (const listener of this.#fleetListeners) listener(teamId);
    if (!fromBus && this.#bus) void this.#bus.broadcastFleetChange(teamId).catch(() => {});
  }

  /** A team's fleet changed on another instance. */
  onBusFleetChange(teamId: string): void {
    this.#fleetChanged(teamId, true);
  }

  /** Called each time an agent is welcomed on this instance (operations are redelivered then). */
  onAgentOnline(listener: (hostId: string) => void): void {
    this.#onlineListeners.push(listener);
  }

  /** The id of this instance on the bus, when it has one. */
  get instanceId(): string | undefined {
    return this.#bus?.instanceId;
  }

  /** Whether an agent is connected to this instance. */
  #local(hostId: string): WebSocket | undefined {
    const socket = this.#live.get(hostId);
    return socket && socket.readyState === socket.OPEN ? socket : undefined;
  }

  /** The instance holding a host's agent, when it is another one. */
  async #holder(hostId: string): Promise<string | undefined> {
    if (!this.#bus) return undefined;
    const host = await db().host.findUnique({
      where: { id: hostId },
      select: { online: true, connectedInstance: true },
    });
    if (!host?.online || !host.connectedInstance || host.connectedInstance === this.#bus.instanceId)
      return undefined;
    return host.connectedInstance;
  }

  /**
   * Opens a stream (container logs, an exec) on a host's agent. Chunks arrive through `onData`; credit goes
   * back to the agent as they are acknowledged, so a slow reader slows the agent down instead of filling memory.
   */
  openStream(
    hostId: string,
    request: StreamRequest,
    handlers: StreamHandlers,
    signal: AbortSignal,
    options: StreamOptions = {},
  ): Promise<StreamHandle> {
    const socket = this.#local(hostId);
    if (!socket) return this.#openRemoteStream(hostId, request, handlers, signal, options);
    return Promise.resolve(this.#openLocalStream(socket, request, handlers, signal, options));
  }

  #openLocalStream(
    socket: WebSocket,
    request: StreamRequest,
    handlers: StreamHandlers,
    signal: AbortSignal,
    options: StreamOptions,
  ): StreamHandle {
    const streamId = randomUUID();
    const { window } = options;
    const manualAck = options.manualAck ?? window !== undefined;
    const grant = new CreditGrant((credit, bytes) => {
      if (this.#streams.has(streamId))
        send(socket, { type: 'stream.credit', streamId, credit, ...(window !== undefined ? { bytes } : {}) });
    }, window);
    this.#streams.set(streamId, {
      socket,
      onData: (chunk) => {
        let acked = false;
        const ack = () => {
          if (acked) return;
          acked = true;
          grant.ack(chunk.data.length);
        };
        handlers.onData(chunk, ack);
        if (!manualAck) ack();
      },
      onEnd: (error) => {
        this.#streams.delete(streamId);
        grant.dispose();
        handlers.onEnd(error);
      },
    });
    signal.addEventListener(
      'abort',
      () => {
        grant.dispose();
        if (!this.#streams.delete(streamId)) return;
        send(socket, { type: 'stream.close', streamId });
      },
      { once: true },
    );
    send(socket, {
      type: 'stream.open',
      streamId,
      request,
      credit: streamCredit,
      ...(window !== undefined ? { window } : {}),
    });
    return {
      input: (data) => {
        if (this.#streams.has(streamId))
          send(socket, { type: 'stream.input', streamId, data: data.toString('base64') });
      },
      resize: (rows, cols) => {
        if (this.#streams.has(streamId)) send(socket, { type: 'stream.resize', streamId, rows, cols });
      },
    };
  }

  /** Sends one command to a host's agent connected to this instance and waits for its result. */
  async request(
    hostId: string,
    command: Command,
    timeoutMs = REQUEST_TIMEOUT_MS,
    requestId: string = randomUUID(),
    onProgress?: ProgressListener,
  ): Promise<unknown> {
    const socket = this.#local(hostId);
    if (socket) return this.#localRequest(socket, command, timeoutMs, requestId, onProgress);
    const holder = await this.#holder(hostId);
    if (!holder || !this.#bus) throw new AgentUnavailableError('the host is offline');
    const bus = this.#bus;
    // The agent sees this id too (a repeated delivery of it is answered, not run again).
    const id = requestId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#remoteRequests.delete(id);
        reject(new AgentUnavailableError('the agent did not answer in time', 'timeout'));
      }, timeoutMs + 2000);
      this.#remoteRequests.set(id, { resolve, reject, timer, ...(onProgress ? { onProgress } : {}) });
      bus
        .send(holder, {
          kind: 'request',
          id,
          from: bus.instanceId,
          hostId,
          command,
          timeoutMs,
          progress: onProgress !== undefined,
        })
        .catch((error: Error) => {
          clearTimeout(timer);
          this.#remoteRequests.delete(id);
          reject(
            new AgentUnavailableError(`the instance holding the agent is unreachable: ${error.message}`),
          );
        });
    });
  }

  #localRequest(
    socket: WebSocket,
    command: Command,
    timeoutMs: number,
    requestId: string,
    onProgress?: ProgressListener,
  ): Promise<unknown> {
    const version = this.#protocolOf.get(socket) ?? PROTOCOL_VERSION;
    if (!commandSupported(command.kind, version))
      return Promise.reject(
        new AgentCommandError(
          'agent_outdated',
          `the agent on this host (protocol ${version}) is too old for ${command.kind}; update it from the host's page`,
        ),
      );
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(requestId);
        reject(new AgentUnavailableError('the agent did not answer in time', 'timeout'));
      }, timeoutMs);
      this.#pending.set(requestId, { socket, resolve, reject, timer, ...(onProgress ? { onProgress } : {}) });
      send(socket, { type: 'request', requestId, command });
    });
  }

  /** Ends a host's connection on this instance (it was revoked); its reconnects are refused at hello. */
  disconnect(hostId: string, reason: string): boolean {
    const socket = this.#live.get(hostId);
    if (!socket) {
      // Held by another instance: it closes the connection; either way the next hello is refused.
      void this.#holder(hostId)
        .then((holder) => {
          if (holder && this.#bus) return this.#bus.send(holder, { kind: 'disconnect', hostId, reason });
        })
        .catch(() => {});
      return false;
    }
    send(socket, { type: 'refused', code: 'revoked', message: reason });
    socket.close(1008, 'revoked');
    return true;
  }

  /** Reads a stream through the instance holding the agent; chunks come back with credit granted by us. */
  async #openRemoteStream(
    hostId: string,
    request: StreamRequest,
    handlers: StreamHandlers,
    signal: AbortSignal,
    options: StreamOptions,
  ): Promise<StreamHandle> {
    const holder = await this.#holder(hostId);
    if (!holder || !this.#bus) throw new AgentUnavailableError('the host is offline');
    const bus = this.#bus;
    const id = randomUUID();
    // Over the bus a windowed stream is granted by bytes (a NOTIFY per 32 short lines would be most of the
    // traffic); the holder turns each grant into per-chunk acknowledgements to the agent.
    const grant = new CreditGrant(
      (credit) => {
        if (this.#remoteStreams.has(id))
          void bus.send(holder, { kind: 'stream.credit', id, credit }).catch(() => {});
      },
      options.window,
      options.window === undefined ? streamCredit / 2 : 1000,
    );
    this.#remoteStreams.set(id, {
      handlers,
      holder,
      manualAck: options.manualAck ?? options.window !== undefined,
      grant,
    });
    this.#relayHousekeeping();
    const open = () => this.#remoteStreams.has(id);
    signal.addEventListener(
      'abort',
      () => {
        grant.dispose();
        if (this.#remoteStreams.delete(id))
          void bus.send(holder, { kind: 'stream.close', id }).catch(() => {});
      },
      { once: true },
    );
    await bus.send(holder, {
      kind: 'stream.open',
      id,
      from: bus.instanceId,
      hostId,
      request,
      ...(options.window !== undefined ? { window: options.window } : {}),
    });
    return {
      input: (data) => {
        if (open())
          void bus.send(holder, { kind: 'stream.input', id, data: data.toString('base64') }).catch(() => {});
      },
      resize: (rows, cols) => {
        if (open()) void bus.send(holder, { kind: 'stream.resize', id, rows, cols }).catch(() => {});
      },
    };
  }

  /** Messages from the other instances: requests and streams for agents held here, and their answers. */
  onBusMessage(message: BusMessage): void {
    const bus = this.#bus;
    if (!bus) return;
    switch (message.kind) {
      case 'request': {
        const socket = this.#local(message.hostId);
        const reply = (result: Extract<BusMessage, { kind: 'result' }>) =>
          void bus.send(message.from, result).catch(() => {});
        if (!socket) {
          reply({
            kind: 'result',
            id: message.id,
            ok: false,
            error: { unavailable: true, code: 'offline', message: 'the host is offline' },
          });
          return;
        }
        const relay = message.progress ? progressRelay(bus, message.from, message.id) : undefined;
        this.#localRequest(socket, message.command, message.timeoutMs, message.id, relay?.listener)
          .finally(() => relay?.flush())
          .then(
            (result) => reply({ kind: 'result', id: message.id, ok: true, result }),
            (error: Error) =>
              reply({
                kind: 'result',
                id: message.id,
                ok: false,
                error: {
                  unavailable: isAgentUnavailable(error),
                  code: isAgentCommandError(error)
                    ? error.code
                    : isAgentUnavailable(error)
                      ? error.reason
                      : 'failed',
                  message: error.message,
                },
              }),
          );
        return;
      }
      case 'progress':
        this.#remoteRequests.get(message.id)?.onProgress?.(message.updates);
        return;
      case 'result': {
        const pending = this.#remoteRequests.get(message.id);
        if (!pending) return;
        this.#remoteRequests.delete(message.id);
        clearTimeout(pending.timer);
        if (message.ok) pending.resolve(message.result);
        else if (message.error?.unavailable)
          pending.reject(
            new AgentUnavailableError(message.error.message, unavailableReason(message.error.code)),
          );
        else
          pending.reject(
            new AgentCommandError(
              message.error?.code ?? 'failed',
              message.error?.message ?? 'the command failed',
            ),
          );
        return;
      }
      case 'stream.open': {
        const socket = this.#local(message.hostId);
        if (!socket) {
          void bus
            .send(message.from, { kind: 'stream.end', id: message.id, error: 'the host is offline' })
            .catch(() => {});
          return;
        }
        const relay: RelayedStream = {
          to: message.from,
          acks: [],
          outbox: [],
          outboxBytes: 0,
          abort: new AbortController(),
          heard: Date.now(),
        };
        this.#relayed.set(message.id, relay);
        this.#relayHousekeeping();
        // What arrived from the agent in one turn of the event loop goes as one message, under NOTIFY's limit.
        const flush = () => {
          clearImmediate(relay.flushing);
          relay.flushing = undefined;
          if (relay.outbox.length === 0) return;
          const chunks = relay.outbox.splice(0);
          relay.outboxBytes = 0;
          void bus.send(relay.to, { kind: 'stream.data', id: message.id, chunks }).catch(() => {});
        };
        relay.handle = this.#openLocalStream(
          socket,
          message.request,
          {
            onData: (chunk, ack) => {
              // Passed on at once; the agent's window (or frame credit) bounds what is on its way.
              relay.acks.push(ack);
              const data = chunk.data.toString('base64');
              relay.outbox.push({ stream: chunk.stream, data, ...(chunk.time ? { time: chunk.time } : {}) });
              relay.outboxBytes += data.length + 80;
              if (relay.outboxBytes >= relayBatchBytes || relay.outbox.length >= 1000) flush();
              else relay.flushing ??= setImmediate(flush);
            },
            onEnd: (error) => {
              if (!this.#relayed.delete(message.id)) return;
              flush();
              void bus
                .send(relay.to, { kind: 'stream.end', id: message.id, ...(error ? { error } : {}) })
                .catch(() => {});
            },
          },
          relay.abort.signal,
          { manualAck: true, ...(message.window !== undefined ? { window: message.window } : {}) },
        );
        return;
      }
      case 'stream.data': {
        const stream = this.#remoteStreams.get(message.id);
        if (!stream) return;
        for (const chunk of message.chunks) {
          const data = Buffer.from(chunk.data, 'base64');
          let acked = false;
          const ack = () => {
            if (acked || !this.#remoteStreams.has(message.id)) return;
            acked = true;
            stream.grant.ack(data.length);
          };
          stream.handlers.onData(
            { stream: chunk.stream, data, ...(chunk.time ? { time: chunk.time } : {}) },
            ack,
          );
          if (!stream.manualAck) ack();
        }
        return;
      }
      case 'stream.end': {
        const stream = this.#remoteStreams.get(message.id);
        if (!stream) return;
        this.#remoteStreams.delete(message.id);
        stream.grant.dispose();
        stream.handlers.onEnd(message.error);
        return;
      }
      case 'stream.credit': {
        // The reader took this many chunks: their credit goes back to the agent.
        const relay = this.#relayed.get(message.id);
        if (!relay) return;
        relay.heard = Date.now();
        for (const ack of relay.acks.splice(0, message.credit)) ack();
        return;
      }
      case 'stream.alive':
        for (const id of message.ids) {
          const relay = this.#relayed.get(id);
          if (relay) relay.heard = Date.now();
        }
        return;
      case 'stream.input': {
        const relay = this.#relayed.get(message.id);
        if (relay) relay.heard = Date.now();
        relay?.handle?.input(Buffer.from(message.data, 'base64'));
        return;
      }
      case 'stream.resize':
        this.#relayed.get(message.id)?.handle?.resize(message.rows, message.cols);
        return;
      case 'stream.close': {
        const relay = this.#relayed.get(message.id);
        if (!relay) return;
        this.#relayed.delete(message.id);
        clearImmediate(relay.flushing);
        relay.abort.abort();
        return;
      }
      case 'disconnect':
        if (this.#live.has(message.hostId)) this.disconnect(message.hostId, message.reason);
        return;
    }
  }

  /** Hosts connected to this instance. */
  connected(): string[] {
    return [...this.#live.keys()];
  }

  handle(socket: WebSocket, ip: string | null): void {
    // Admission: past this many handshakes at once, a newcomer is told to come back (its backoff spreads the
    // fleet out) instead of every handshake slowing down until none finishes before its deadline.
    if (this.#handshakes >= maxConcurrentHandshakes) {
      socket.close(1013, 'busy, try again later');
      return;
    }
    this.#handshakes++;
    let handshaking = true;
    const handshakeDone = () => {
      if (!handshaking) return;
      handshaking = false;
      this.#handshakes--;
    };
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
          if (phase.kind === 'online') handshakeDone();
        })
        .catch(() => socket.close(1011, 'internal error'));
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      handshakeDone();
      clearTimeout(helloTimer);
      clearInterval(ping);
      for (const stream of [...this.#streams.values()])
        if (stream.socket === socket) stream.onEnd('the agent disconnected');
      for (const [id, pending] of this.#pending)
        if (pending.socket === socket) {
          clearTimeout(pending.timer);
          this.#pending.delete(id);
          pending.reject(
            new AgentUnavailableError('the agent disconnected before answering', 'disconnected'),
          );
        }
      void queue.then(async () => {
        if (phase.kind !== 'online') return;
        const hostId = phase.hostId;
        if (this.#live.get(hostId) !== socket) return;
        this.#live.delete(hostId);
        log().info({ hostId }, 'agent offline');
        // The agent may already be back on another instance: only the instance holding it marks it offline.
        const marked = await db()
          .host.updateMany({
            where: { id: hostId, connectedInstance: this.#bus?.instanceId ?? null },
            data: { online: false, connectedInstance: null, lastSeenAt: new Date() },
          })
          .catch(() => ({ count: 0 }));
        // Open pages show the host offline now, not at their next poll (a quick restart could hide it).
        if (marked.count > 0) {
          const host = await db()
            .host.findUnique({ where: { id: hostId }, select: { teamId: true } })
            .catch(() => null);
          if (host) this.#fleetChanged(host.teamId);
        }
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
      return {
        kind: 'auth',
        hostId: host.id,
        nonce,
        agentVersion: frame.agentVersion,
        protocolVersion: frame.protocolVersion,
      };
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
        challengePayload(phase.nonce, host.id, phase.protocolVersion),
        key,
        Buffer.from(frame.signature, 'base64'),
      );
      if (!valid) {
        refuse(socket, 'bad_signature', 'the challenge signature does not match the enrolled key');
        return phase;
      }
      this.#live.get(host.id)?.close(4000, 'replaced by a newer connection');
      this.#live.set(host.id, socket);
      this.#protocolOf.set(socket, phase.protocolVersion);
      await db().host.update({
        where: { id: host.id },
        data: {
          online: true,
          lastSeenAt: new Date(),
          agentVersion: phase.agentVersion,
          connectedInstance: this.#bus?.instanceId ?? null,
        },
      });
      await recordAudit({ action: 'agent.connected', teamId: host.teamId, target: host.id, ip });
      send(socket, {
        type: 'welcome',
        hostId: host.id,
        updateAvailable: protocolCompatibility(phase.protocolVersion) === 'update_available',
        digestIntervalMs,
      });
      log().info(
        { hostId: host.id, teamId: host.teamId, ip, agentVersion: phase.agentVersion },
        'agent online',
      );
      this.#fleetChanged(host.teamId);
      for (const listener of this.#onlineListeners) listener(host.id);
      return { kind: 'online', hostId: host.id };
    }
    await this.#online(socket, phase.hostId, frame);
    return phase;
  }

  async #online(socket: WebSocket, hostId: string, frame: AgentFrame): Promise<void> {
    switch (frame.type) {
      case 'inventory': {
        // A reconnecting agent mostly reports what is already known: then the rows stay as they are, which
        // keeps a fleet reconnecting at once (after a control-plane restart) from rewriting every row.
        const stored = await db().host.findUnique({ where: { id: hostId }, select: { inventory: true } });
        const known = inventorySchema.safeParse(stored?.inventory);
        const ours = known.success ? inventoryDigest(known.data) : undefined;
        const theirs = inventoryDigest(frame.inventory);
        if (ours && ours.containers === theirs.containers && ours.images === theirs.images) {
          await db().host.update({
            where: { id: hostId },
            data: { inventory: frame.inventory, lastSeenAt: new Date() },
          });
          return;
        }
        const teamId = await db().$transaction(async (tx) => {
          const host = await tx.host.update({
            where: { id: hostId },
            data: { inventory: frame.inventory, lastSeenAt: new Date() },
          });
          await replaceInventoryRows(hostId, host.teamId, frame.inventory, tx);
          await forgetVanished(
            hostId,
            frame.inventory.containers.map((c) => c.id),
            tx,
          );
          return host.teamId;
        });
        this.#fleetChanged(teamId);
        return;
      }
      case 'event': {
        // Image events carry no summary: the fresh inventory they ask for puts the image rows right at once,
        // instead of at the next digest.
        if (frame.event.Type === 'image' && frame.event.Action !== 'push') {
          send(socket, { type: 'resync' });
          return;
        }
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
          await recordStateEvent(hostId, teamId, frame, tx);
          if (frame.container) await applyContainerRow(hostId, teamId, { container: frame.container }, tx);
          else if (frame.removed)
            await applyContainerRow(hostId, teamId, { removedId: frame.event.Actor.ID }, tx);
        });
        this.#fleetChanged(teamId);
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
          stream.onData({
            stream: frame.stream,
            data: Buffer.from(frame.data, 'base64'),
            ...(frame.time ? { time: frame.time } : {}),
          });
        return;
      }
      case 'stream.end': {
        const stream = this.#streams.get(frame.streamId);
        if (stream?.socket === socket) stream.onEnd(frame.error?.message);
        return;
      }
      case 'progress': {
        const pending = this.#pending.get(frame.requestId);
        if (pending?.socket === socket) pending.onProgress?.([frame.progress]);
        return;
      }
      default:
        return;
    }
  }
}

/**
 * Coalesces a request's progress events on the instance holding the agent: the newest per layer (or status
 * line), sent to the asking instance at most every 250 ms, and once more when the request ends.
 */
function progressRelay(
  bus: InstanceBus,
  to: string,
  id: string,
): { listener: ProgressListener; flush: () => void } {
  const latest = new Map<string, Record<string, unknown>>();
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (latest.size === 0) return;
    const updates = [...latest.values()];
    latest.clear();
    void bus.send(to, { kind: 'progress', id, updates }).catch(() => {});
  };
  return {
    listener: (updates) => {
      for (const update of updates) latest.set(String(update.id ?? update.status ?? ''), update);
      timer ??= setTimeout(flush, progressRelayMs);
    },
    flush,
  };
}

function unavailableReason(code: string): UnavailableReason {
  return code === 'timeout' || code === 'disconnected' ? code : 'offline';
}

const holder = globalThis as unknown as { berthGateway?: AgentGateway };

/** The gateway of this process: made by the server (server.ts) and used by the app's procedures. */
export function gateway(): AgentGateway {
  holder.berthGateway ??= new AgentGateway();
  return holder.berthGateway;
}
