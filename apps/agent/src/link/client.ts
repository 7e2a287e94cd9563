/**
 * The agent's side of the control-plane link: it dials out (so hosts behind NAT work), proves its identity by
 * signing the server's challenge, sends a full inventory, then deltas from the engine's events, and carries out
 * the requests and streams the control plane sends. It reconnects with full-jitter backoff until disposed or
 * refused for good (revoked, unknown host, unsupported protocol).
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import {
  type AgentFrame,
  type Command,
  type ContainerSummary,
  type EngineFacts,
  type Inventory,
  KEEPALIVE,
  PROTOCOL_VERSION,
  type ProtocolError,
  parseFrame,
  reconnectDelay,
  type ServerFrame,
  type StreamRequest,
  serverFrameSchema,
} from '../protocol/messages';
import type { AgentIdentity } from './identity';

export interface InventoryDelta {
  event: Extract<AgentFrame, { type: 'event' }>['event'];
  container?: ContainerSummary;
  removed?: boolean;
}

export interface StreamSink {
  /** Resolves when the control plane has credit for this chunk: the stream's backpressure. */
  write(chunk: { stream: 'stdout' | 'stderr'; data: Buffer; time?: string }): Promise<void>;
}

/** What the link needs from the host: the engine, seen through the protocol's shapes. */
export interface LinkBackend {
  facts(): Promise<EngineFacts>;
  inventory(): Promise<Inventory>;
  deltas(signal: AbortSignal): AsyncIterable<InventoryDelta>;
  execute(
    command: Command,
    progress: (update: Record<string, unknown>) => void,
    signal: AbortSignal,
  ): Promise<unknown>;
  openStream(
    request: StreamRequest,
    sink: StreamSink,
    signal: AbortSignal,
    input: StreamInput,
  ): Promise<{ exitCode?: number }>;
}

/** Where an interactive stream (exec) takes what the control plane sends it: keystrokes and terminal sizes. */
export interface StreamInput {
  onInput(handler: (data: Buffer) => void): void;
  onResize(handler: (rows: number, cols: number) => void): void;
}

/** What one open stream has sent and has outstanding: how tests (and debugging) see its flow control. */
export interface StreamStats {
  streamId: string;
  kind: StreamRequest['kind'];
  window?: number;
  sentFrames: number;
  sentBytes: number;
  /** Bytes sent and not yet acknowledged (with a window). */
  outstandingBytes: number;
  /** The most ever outstanding at once. */
  maxOutstandingBytes: number;
}

export type LinkState = 'connecting' | 'online' | 'reconnecting' | 'refused' | 'closed';

export interface LinkOptions {
  /** Base URL of the control plane, e.g. http://cp.example:3000; the socket is at /api/agent/ws. */
  controlPlane: string;
  hostId: string;
  identity: AgentIdentity;
  backend: LinkBackend;
  log: Logger;
  agentVersion: string;
  onState?: (state: LinkState, detail?: string) => void;
  random?: () => number;
}

const completedRequestsKept = 1000;
const maxEarlyInputBytes = 1024 * 1024;

interface OpenStream {
  abort: AbortController;
  credit: number;
  /** Protocol 2's byte window when the control plane gave one; frame credit alone otherwise. */
  window?: number;
  stats: StreamStats;
  wake?: () => void;
  input?: (data: Buffer) => void;
  resize?: (rows: number, cols: number) => void;
}

export class ControlPlaneLink implements AsyncDisposable {
  readonly #options: LinkOptions;
  #socket: WebSocket | undefined;
  #state: LinkState = 'connecting';
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #silence: NodeJS.Timeout | undefined;
  #session: AbortController | undefined;
  readonly #streams = new Map<string, OpenStream>();
  /** Results of requests already carried out, so a redelivered request is answered, not run twice. */
  readonly #completed = new Map<string, Promise<AgentFrame>>();

  constructor(options: LinkOptions) {
    this.#options = options;
  }

  get state(): LinkState {
    return this.#state;
  }

  start(): this {
    this.#connect();
    return this;
  }

  #setState(state: LinkState, detail?: string): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#options.onState?.(state, detail);
  }

  #url(): string {
    const url = new URL('/api/agent/ws', this.#options.controlPlane);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    return url.toString();
  }

  #connect(): void {
    if (this.#state === 'closed' || this.#state === 'refused') return;
    const socket = new WebSocket(this.#url(), { handshakeTimeout: 10_000, maxPayload: 8 * 1024 * 1024 });
    this.#socket = socket;
    const session = new AbortController();
    this.#session = session;
    socket.on('open', () => {
      this.#touch();
      this.#send({
        type: 'hello',
        protocolVersion: PROTOCOL_VERSION,
        agentVersion: this.#options.agentVersion,
        hostId: this.#options.hostId,
      });
    });
    socket.on('ping', () => this.#touch());
    socket.on('message', (raw: Buffer) => {
      this.#touch();
      let frame: ServerFrame;
      try {
        frame = parseFrame(serverFrameSchema, raw);
      } catch (error) {
        this.#options.log.warn({ err: (error as ProtocolError).message }, 'dropped a malformed frame');
        return;
      }
      this.#handle(frame, session.signal).catch((error: unknown) => {
        this.#options.log.error({ err: error }, 'frame handling failed');
      });
    });
    socket.on('error', (error) =>
      this.#options.log.debug({ err: error.message }, 'control-plane socket error'),
    );
    socket.on('close', () => {
      session.abort();
      for (const stream of this.#streams.values()) stream.abort.abort();
      this.#streams.clear();
      clearTimeout(this.#silence);
      if (this.#socket === socket) this.#socket = undefined;
      if (this.#state === 'closed' || this.#state === 'refused') return;
      this.#setState('reconnecting');
      const delay = reconnectDelay(this.#attempt++, this.#options.random);
      this.#timer = setTimeout(() => this.#connect(), delay);
    });
  }

  /** Any frame or ping proves the path is alive; silence for too long means a dead path, so start over. */
  #touch(): void {
    clearTimeout(this.#silence);
    this.#silence = setTimeout(() => this.#socket?.terminate(), KEEPALIVE.agentSilenceMs);
  }

  #send(frame: AgentFrame): boolean {
    const socket = this.#socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  async #handle(frame: ServerFrame, signal: AbortSignal): Promise<void> {
    switch (frame.type) {
      case 'challenge':
        this.#send({
          type: 'auth',
          signature: this.#options.identity.signChallenge(frame.nonce, this.#options.hostId),
        });
        return;
      case 'refused':
        this.#options.log.error({ code: frame.code }, `control plane refused this agent: ${frame.message}`);
        this.#setState('refused', frame.message);
        this.#socket?.close(1000);
        return;
      case 'welcome':
        this.#attempt = 0;
        this.#setState('online');
        await this.#sendInventory();
        this.#pumpDeltas(signal);
        this.#digestLoop(frame.digestIntervalMs, signal);
        return;
      case 'resync':
        await this.#sendInventory();
        return;
      case 'request':
        await this.#request(frame, signal);
        return;
      case 'stream.open':
        this.#openStream(frame.streamId, frame.request, frame.credit, frame.window, signal);
        return;
      case 'stream.credit': {
        const stream = this.#streams.get(frame.streamId);
        if (!stream) return;
        if (stream.window !== undefined && frame.bytes !== undefined)
          stream.stats.outstandingBytes = Math.max(0, stream.stats.outstandingBytes - frame.bytes);
        else stream.credit += frame.credit;
        stream.wake?.();
        return;
      }
      case 'stream.close':
        this.#streams.get(frame.streamId)?.abort.abort();
        return;
      case 'stream.input':
        this.#streams.get(frame.streamId)?.input?.(Buffer.from(frame.data, 'base64'));
        return;
      case 'stream.resize':
        this.#streams.get(frame.streamId)?.resize?.(frame.rows, frame.cols);
        return;
    }
  }

  async #sendInventory(): Promise<void> {
    const inventory = await this.#options.backend.inventory();
    this.#send({ type: 'inventory', inventory });
  }

  #pumpDeltas(signal: AbortSignal): void {
    void (async () => {
      for await (const delta of this.#options.backend.deltas(signal)) {
        this.#send({ type: 'event', ...delta });
      }
    })().catch((error: unknown) => {
      if (!signal.aborted) this.#options.log.error({ err: error }, 'event stream to the control plane ended');
    });
  }

  /** A periodic digest lets the control plane notice a missed delta and ask for a resync. */
  #digestLoop(intervalMs: number, signal: AbortSignal): void {
    const timer = setInterval(() => {
      this.#options.backend
        .inventory()
        .then((inventory) => this.#send({ type: 'digest', ...inventoryDigest(inventory) }))
        .catch((error: unknown) => this.#options.log.warn({ err: error }, 'digest failed'));
    }, intervalMs);
    signal.addEventListener('abort', () => clearInterval(timer), { once: true });
  }

  async #request(frame: Extract<ServerFrame, { type: 'request' }>, signal: AbortSignal): Promise<void> {
    let outcome = this.#completed.get(frame.requestId);
    if (!outcome) {
      outcome = this.#options.backend
        .execute(
          frame.command,
          (progress) => this.#send({ type: 'progress', requestId: frame.requestId, progress }),
          signal,
        )
        .then(
          (result): AgentFrame => ({ type: 'result', requestId: frame.requestId, ok: true, result }),
          (error: unknown): AgentFrame => ({
            type: 'result',
            requestId: frame.requestId,
            ok: false,
            error: {
              code: (error as { code?: string }).code ?? 'failed',
              message: error instanceof Error ? error.message : String(error),
            },
          }),
        );
      this.#completed.set(frame.requestId, outcome);
      if (this.#completed.size > completedRequestsKept) {
        const oldest = this.#completed.keys().next().value;
        if (oldest !== undefined) this.#completed.delete(oldest);
      }
    }
    this.#send(await outcome);
  }

  /** The streams open now, with their counters. */
  streamStats(): StreamStats[] {
    return [...this.#streams.values()].map((stream) => ({ ...stream.stats }));
  }

  #openStream(
    streamId: string,
    request: StreamRequest,
    credit: number,
    window: number | undefined,
    sessionSignal: AbortSignal,
  ): void {
    const abort = new AbortController();
    sessionSignal.addEventListener('abort', () => abort.abort(), { once: true });
    const stats: StreamStats = {
      streamId,
      kind: request.kind,
      ...(window !== undefined ? { window } : {}),
      sentFrames: 0,
      sentBytes: 0,
      outstandingBytes: 0,
      maxOutstandingBytes: 0,
    };
    const stream: OpenStream = { abort, credit, stats, ...(window !== undefined ? { window } : {}) };
    // Keys typed before the stream's process exists (an exec still starting) wait for it, in order.
    const early: Buffer[] = [];
    let lastSize: [number, number] | undefined;
    let earlyBytes = 0;
    stream.input = (data) => {
      // Streams that take no input (logs) never register: what is sent to them is held only up to a bound.
      if (earlyBytes + data.length > maxEarlyInputBytes) return;
      earlyBytes += data.length;
      early.push(data);
    };
    stream.resize = (rows, cols) => {
      lastSize = [rows, cols];
    };
    const input: StreamInput = {
      onInput: (handler) => {
        stream.input = handler;
        for (const data of early.splice(0)) handler(data);
      },
      onResize: (handler) => {
        stream.resize = handler;
        if (lastSize) handler(...lastSize);
      },
    };
    this.#streams.set(streamId, stream);
    abort.signal.addEventListener('abort', () => stream.wake?.(), { once: true });
    let seq = 0;
    const sink: StreamSink = {
      write: async (chunk) => {
        const size = chunk.data.length;
        // With a window: wait while this chunk would pass it, unless nothing is outstanding (a chunk bigger
        // than the whole window still goes, alone). The backend awaits this, so it reads no further meanwhile.
        const blocked = () =>
          stream.window === undefined
            ? stream.credit <= 0
            : stats.outstandingBytes > 0 && stats.outstandingBytes + size > stream.window;
        while (blocked() && !abort.signal.aborted) {
          await new Promise<void>((resolve) => {
            stream.wake = resolve;
          });
          stream.wake = undefined;
        }
        if (abort.signal.aborted) throw new Error('stream closed');
        if (stream.window === undefined) stream.credit -= 1;
        else {
          stats.outstandingBytes += size;
          stats.maxOutstandingBytes = Math.max(stats.maxOutstandingBytes, stats.outstandingBytes);
        }
        stats.sentFrames++;
        stats.sentBytes += size;
        this.#send({
          type: 'stream.data',
          streamId,
          seq: seq++,
          stream: chunk.stream,
          data: chunk.data.toString('base64'),
          ...(chunk.time ? { time: chunk.time } : {}),
        });
      },
    };
    this.#options.backend
      .openStream(request, sink, abort.signal, input)
      .then(
        ({ exitCode }) =>
          this.#send({ type: 'stream.end', streamId, ...(exitCode === undefined ? {} : { exitCode }) }),
        (error: unknown) => {
          if (abort.signal.aborted) return;
          this.#send({
            type: 'stream.end',
            streamId,
            error: { code: 'failed', message: error instanceof Error ? error.message : String(error) },
          });
        },
      )
      .finally(() => this.#streams.delete(streamId));
  }

  async close(): Promise<void> {
    this.#setState('closed');
    clearTimeout(this.#timer);
    clearTimeout(this.#silence);
    this.#session?.abort();
    const socket = this.#socket;
    if (socket && socket.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.close(1001);
        setTimeout(() => {
          socket.terminate();
          resolve();
        }, 2000).unref();
      });
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Order-independent hashes of what the control plane should know; equal digests mean nothing was missed. */
export function inventoryDigest(inventory: Inventory): { containers: string; images: string } {
  const hash = (lines: string[]) => createHash('sha256').update(lines.sort().join('\n')).digest('hex');
  return {
    containers: hash(inventory.containers.map((c) => `${c.id} ${c.state} ${c.name} ${c.imageId}`)),
    images: hash(inventory.images.map((i) => `${i.id} ${i.repoTags.join(',')}`)),
  };
}

/** Enrols with a one-time token: registers this host's public key and learns the host id. */
export async function enroll(options: {
  controlPlane: string;
  token: string;
  identity: AgentIdentity;
  facts: EngineFacts;
}): Promise<string> {
  const response = await fetch(new URL('/api/agent/enroll', options.controlPlane), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      token: options.token,
      publicKey: options.identity.publicKey,
      protocolVersion: PROTOCOL_VERSION,
      facts: options.facts,
    }),
  });
  const body = (await response.json().catch(() => ({}))) as { hostId?: string; message?: string };
  if (!response.ok || !body.hostId) {
    throw new Error(`enrolment refused (${response.status}): ${body.message ?? response.statusText}`);
  }
  await options.identity.save({ hostId: body.hostId, controlPlane: options.controlPlane });
  return body.hostId;
}
