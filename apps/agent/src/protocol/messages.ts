/**
 * The agent <-> control plane protocol: JSON text frames over one WebSocket that the agent dials out.
 * Both sides import this module; every frame is parsed with `parseFrame` before anything acts on it.
 *
 * Versioning: `PROTOCOL_VERSION` rises with every change a peer could notice. The server accepts agents from
 * `MIN_SUPPORTED_PROTOCOL_VERSION` up to its own version (older ones inside that window are marked
 * "update available"); anything outside is refused with a `refused` frame whose message the UI shows.
 *
 * 2: streams take a byte window besides frame credit (`stream.open.window`, `stream.credit.bytes`). A version 1
 * agent ignores both and is held by frame credit alone; a version 2 agent given no window does the same.
 * Commands `container.recreate`, `build.context` and `image.build`.
 * 3: command `container.stats`.
 */
import { z } from 'zod';

export const PROTOCOL_VERSION = 3;
export const MIN_SUPPORTED_PROTOCOL_VERSION = 1;

/** Keep-alive defaults (WebSocket ping frames, sent by the server). */
export const KEEPALIVE = {
  /** The server pings every agent this often. */
  pingIntervalMs: 15_000,
  /** An agent that answered no ping for this long is dropped and marked offline. */
  deadAfterMs: 45_000,
  /** The agent reconnects when it has heard nothing (no frame, no ping) for this long. */
  agentSilenceMs: 45_000,
} as const;

/** Reconnect backoff of the agent: full jitter between 0 and min(max, base * 2^attempt). */
export const RECONNECT = { baseMs: 500, maxMs: 30_000 } as const;

export const REQUEST_TIMEOUT_MS = 30_000;

const id = z.string().min(1).max(128);
const labels = z.record(z.string().max(256), z.string().max(4096));

export const engineFactsSchema = z.object({
  hostname: z.string().max(255),
  os: z.string().max(255),
  kernel: z.string().max(255),
  arch: z.string().max(64),
  cpus: z.number().int().nonnegative(),
  memoryBytes: z.number().nonnegative(),
  runtimes: z.record(z.string().max(64), z.string().max(255)),
  agentVersion: z.string().max(64),
});
export type EngineFacts = z.infer<typeof engineFactsSchema>;

export const containerSummarySchema = z.object({
  id: z.string().regex(/^[a-f0-9]{64}$/),
  name: z.string().max(255),
  image: z.string().max(1024),
  imageId: z.string().max(128),
  command: z.string().max(4096),
  state: z.enum(['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead']),
  status: z.string().max(255),
  created: z.number(),
  labels,
  ports: z.array(
    z.object({
      privatePort: z.number().int(),
      publicPort: z.number().int().optional(),
      ip: z.string().max(64).optional(),
      type: z.enum(['tcp', 'udp', 'sctp']),
    }),
  ),
  networks: z.array(z.string().max(255)),
});
export type ContainerSummary = z.infer<typeof containerSummarySchema>;

export const imageSummarySchema = z.object({
  id: z.string().max(128),
  repoTags: z.array(z.string().max(1024)),
  repoDigests: z.array(z.string().max(1024)),
  size: z.number().nonnegative(),
  created: z.number(),
});
export type ImageSummary = z.infer<typeof imageSummarySchema>;

export const inventorySchema = z.object({
  facts: engineFactsSchema,
  containers: z.array(containerSummarySchema),
  images: z.array(imageSummarySchema),
  volumes: z.array(z.object({ name: z.string().max(255), driver: z.string().max(64), labels })),
  networks: z.array(
    z.object({ id: z.string().max(128), name: z.string().max(255), driver: z.string().max(64) }),
  ),
});
export type Inventory = z.infer<typeof inventorySchema>;

/** Registry credentials travel only inside the command that needs them, and are never written to disk. */
export const registryAuthSchema = z.object({
  serverAddress: z.string().max(255),
  username: z.string().max(255),
  password: z.string().max(8192),
});

/** A build context travels to the agent in pieces of at most this size, never whole and never stored. */
export const BUILD_CONTEXT_CHUNK_BYTES = 1024 * 1024;
/** The largest build context an agent takes (tar or tar.gz as uploaded). */
export const BUILD_CONTEXT_MAX_BYTES = 200 * 1024 * 1024;

/** One piece of an uploaded build context, written at its offset into the agent's upload file. */
export const buildContextCommandSchema = z.object({
  kind: z.literal('build.context'),
  uploadId: z.uuid(),
  offset: z.number().int().min(0).max(BUILD_CONTEXT_MAX_BYTES),
  data: z.string().max(Math.ceil(BUILD_CONTEXT_CHUNK_BYTES / 3) * 4), // base64
});

/** `docker build` from a Dockerfile and an uploaded context, optionally pushing every tag afterwards. */
export const imageBuildCommandSchema = z.object({
  kind: z.literal('image.build'),
  uploadId: z.uuid().optional(),
  dockerfile: z.string().min(1).max(1_048_576),
  tags: z.array(z.string().min(1).max(1024)).max(32).default([]),
  buildArgs: z.record(z.string().max(256), z.string().max(65_536)).default({}),
  target: z.string().max(255).optional(),
  noCache: z.boolean().default(false),
  pull: z.boolean().default(false),
  push: z.boolean().default(false),
  /** Network of the RUN steps, as `docker build --network`. */
  network: z.enum(['default', 'none', 'host']).default('default'),
  /** For FROM pulls and the push, to the tags' registry. */
  auth: registryAuthSchema.optional(),
});

export const commandSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('container.start'), containerId: id }),
  z.object({
    kind: z.literal('container.stop'),
    containerId: id,
    timeoutSeconds: z.number().int().min(0).max(3600).optional(),
  }),
  z.object({
    kind: z.literal('container.restart'),
    containerId: id,
    timeoutSeconds: z.number().int().min(0).max(3600).optional(),
  }),
  z.object({ kind: z.literal('container.kill'), containerId: id, signal: z.string().max(16).optional() }),
  z.object({ kind: z.literal('container.pause'), containerId: id }),
  z.object({ kind: z.literal('container.unpause'), containerId: id }),
  z.object({ kind: z.literal('container.remove'), containerId: id, force: z.boolean().default(false) }),
  z.object({ kind: z.literal('container.inspect'), containerId: id }),
  // One resource-usage sample in the Docker API's stats shape (`docker stats --no-stream --one-shot`).
  z.object({ kind: z.literal('container.stats'), containerId: id }),
  // Recreate with the same settings, after pulling the image reference it was created from when `pull` says so.
  z.object({
    kind: z.literal('container.recreate'),
    containerId: id,
    pull: z.boolean().default(true),
    auth: registryAuthSchema.optional(),
  }),
  z.object({
    kind: z.literal('image.pull'),
    reference: z.string().min(1).max(1024),
    auth: registryAuthSchema.optional(),
  }),
  z.object({
    kind: z.literal('image.remove'),
    reference: z.string().min(1).max(1024),
    force: z.boolean().default(false),
  }),
  z.object({
    kind: z.literal('container.deploy'),
    image: z.string().min(1).max(1024),
    name: z.string().max(255).optional(),
    cmd: z.array(z.string().max(65536)).max(256).optional(),
    env: z.array(z.string().max(65536)).max(1024).default([]),
    ports: z.array(z.string().max(64)).max(256).default([]),
    volumes: z.array(z.string().max(4096)).max(256).default([]),
    network: z.string().max(255).optional(),
    restartPolicy: z.enum(['no', 'always', 'unless-stopped', 'on-failure']).default('no'),
    labels: labels.default({}),
    auth: registryAuthSchema.optional(),
  }),
  buildContextCommandSchema,
  imageBuildCommandSchema,
]);
export type Command = z.infer<typeof commandSchema>;

/**
 * The protocol version that brought each command newer than version 1: an older agent would drop it as a
 * malformed frame, so the server refuses to send it one.
 */
const commandSince: Partial<Record<Command['kind'], number>> = {
  'container.recreate': 2,
  'build.context': 2,
  'image.build': 2,
  'container.stats': 3,
};

export function commandSupported(kind: Command['kind'], agentProtocolVersion: number): boolean {
  return agentProtocolVersion >= (commandSince[kind] ?? 1);
}

export const streamRequestSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('logs'),
    containerId: id,
    tail: z.number().int().min(0).max(100_000).default(100),
    follow: z.boolean().default(true),
    timestamps: z.boolean().default(true),
    since: z.number().optional(),
  }),
  z.object({
    kind: z.literal('exec'),
    containerId: id,
    cmd: z.array(z.string().max(65536)).min(1).max(256),
    tty: z.boolean().default(true),
    rows: z.number().int().min(1).max(1000).optional(),
    cols: z.number().int().min(1).max(1000).optional(),
  }),
]);
export type StreamRequest = z.infer<typeof streamRequestSchema>;

const errorSchema = z.object({ code: z.string().max(64), message: z.string().max(16_384) });

/** Frames the agent sends. */
export const agentFrameSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('hello'),
    protocolVersion: z.number().int().positive(),
    agentVersion: z.string().max(64),
    hostId: id,
  }),
  z.object({ type: z.literal('auth'), signature: z.string().max(256) }),
  z.object({ type: z.literal('inventory'), inventory: inventorySchema }),
  z.object({
    type: z.literal('event'),
    event: z.object({
      Type: z.string().max(32),
      Action: z.string().max(256),
      Actor: z.object({ ID: z.string().max(1024), Attributes: z.record(z.string(), z.string()) }),
      time: z.number(),
      timeNano: z.number(),
    }),
    container: containerSummarySchema.optional(),
    removed: z.boolean().optional(),
  }),
  z.object({ type: z.literal('digest'), containers: z.string().max(128), images: z.string().max(128) }),
  z.object({ type: z.literal('progress'), requestId: id, progress: z.record(z.string(), z.unknown()) }),
  // One variant for both outcomes: `ok` says which of `result` and `error` is meaningful.
  z.object({
    type: z.literal('result'),
    requestId: id,
    ok: z.boolean(),
    result: z.unknown().optional(),
    error: errorSchema.optional(),
  }),
  z.object({
    type: z.literal('stream.data'),
    streamId: id,
    seq: z.number().int().nonnegative(),
    stream: z.enum(['stdout', 'stderr']),
    data: z.string().max(1_048_576), // base64
    time: z.string().max(64).optional(),
  }),
  z.object({
    type: z.literal('stream.end'),
    streamId: id,
    error: errorSchema.optional(),
    exitCode: z.number().int().optional(),
  }),
]);
export type AgentFrame = z.infer<typeof agentFrameSchema>;

/** Frames the control plane sends. */
export const serverFrameSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('challenge'), nonce: z.string().max(256), serverVersion: z.number().int() }),
  z.object({
    type: z.literal('welcome'),
    hostId: id,
    updateAvailable: z.boolean(),
    digestIntervalMs: z.number().int().positive(),
  }),
  z.object({
    type: z.literal('refused'),
    code: z.enum(['unknown_host', 'revoked', 'bad_signature', 'version']),
    message: z.string().max(1024),
  }),
  z.object({ type: z.literal('request'), requestId: id, operationId: id.optional(), command: commandSchema }),
  z.object({ type: z.literal('resync') }),
  z.object({
    type: z.literal('stream.open'),
    streamId: id,
    request: streamRequestSchema,
    /** Frames the agent may send before more credit comes (every protocol version honours this). */
    credit: z.number().int().positive(),
    /**
     * Protocol 2: bytes of data the agent may have sent and not yet had acknowledged. With a window the agent
     * counts bytes, not frames; it sends one chunk over the window only when nothing is outstanding.
     */
    window: z
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 * 1024)
      .optional(),
  }),
  z.object({
    type: z.literal('stream.credit'),
    streamId: id,
    credit: z.number().int().positive(),
    /** Protocol 2: bytes consumed downstream since the last grant; given back to the stream's window. */
    bytes: z.number().int().nonnegative().optional(),
  }),
  z.object({ type: z.literal('stream.input'), streamId: id, data: z.string().max(1_048_576) }),
  z.object({
    type: z.literal('stream.resize'),
    streamId: id,
    rows: z.number().int().min(1).max(1000),
    cols: z.number().int().min(1).max(1000),
  }),
  z.object({ type: z.literal('stream.close'), streamId: id }),
]);
export type ServerFrame = z.infer<typeof serverFrameSchema>;

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
}

/** Parses one text frame; throws ProtocolError (never a zod error) so transports can drop it cleanly. */
export function parseFrame<T>(schema: z.ZodType<T>, raw: string | Buffer): T {
  if (raw.length > 4 * 1024 * 1024) throw new ProtocolError('frame over 4 MiB');
  let json: unknown;
  try {
    json = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch {
    throw new ProtocolError('frame is not JSON');
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success)
    throw new ProtocolError(`invalid frame: ${parsed.error.issues[0]?.message ?? 'unknown'}`);
  return parsed.data;
}

/**
 * What an agent signs to answer a challenge: bound to the protocol and the host, so a signature is not reusable.
 * The server checks it with the version the agent said hello with, so older agents inside the window still pass.
 */
export function challengePayload(nonce: string, hostId: string, version: number = PROTOCOL_VERSION): Buffer {
  return Buffer.from(`berth-agent-auth:v${version}:${hostId}:${nonce}`, 'utf8');
}

export function protocolCompatibility(agentVersion: number): 'current' | 'update_available' | 'unsupported' {
  if (agentVersion === PROTOCOL_VERSION) return 'current';
  if (agentVersion >= MIN_SUPPORTED_PROTOCOL_VERSION && agentVersion < PROTOCOL_VERSION)
    return 'update_available';
  return 'unsupported';
}

/** Full-jitter exponential backoff (AWS architecture blog's recommendation for reconnect storms). */
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(RECONNECT.maxMs, RECONNECT.baseMs * 2 ** Math.min(attempt, 16));
  return Math.floor(random() * ceiling);
}
