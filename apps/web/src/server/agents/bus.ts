/**
 * Messages between control-plane instances, over PostgreSQL LISTEN/NOTIFY: each instance listens on a channel
 * named after its id, and an instance that needs an agent connected elsewhere sends its request (or stream)
 * there. Not an in-memory map: any number of instances behind any load balancer, one database.
 *
 * A NOTIFY payload must stay under 8000 bytes; a larger message is parked in `instance_message` and the
 * notification carries its id. The connection is re-made with backoff when the database goes away; what was
 * in flight then times out where it was asked, visibly.
 */
import { randomUUID } from 'node:crypto';
import { commandSchema, streamRequestSchema } from '@berth/agent/protocol/messages';
import pg from 'pg';
import { z } from 'zod';
import { parseJsonOrUndefined } from '../json';

const notifyLimitBytes = 7900;
const parkedMessageTtlMs = 5 * 60_000;

const id = z.string().min(1).max(128);
const instanceId = z.uuid();

export const busMessageSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('request'),
    id,
    from: instanceId,
    hostId: id,
    command: commandSchema,
    timeoutMs: z.number().int().positive(),
    /** Whether the asker follows the request's progress (the holder then relays it). */
    progress: z.boolean().default(false),
  }),
  z.object({
    kind: z.literal('progress'),
    id,
    updates: z.array(z.record(z.string(), z.unknown())).max(1000),
  }),
  z.object({
    kind: z.literal('result'),
    id,
    ok: z.boolean(),
    result: z.unknown().optional(),
    error: z
      .object({ unavailable: z.boolean(), code: z.string().max(64), message: z.string().max(4096) })
      .optional(),
  }),
  z.object({
    kind: z.literal('stream.open'),
    id,
    from: instanceId,
    hostId: id,
    request: streamRequestSchema,
    /** The agent's byte window; the reader acknowledges chunks as its consumer takes them. */
    window: z.number().int().positive().optional(),
  }),
  /** Chunks of a relayed stream, several to a message (one NOTIFY per log line would cap a stream's rate). */
  z.object({
    kind: z.literal('stream.data'),
    id,
    chunks: z
      .array(
        z.object({
          stream: z.enum(['stdout', 'stderr']),
          data: z.string(),
          time: z.string().max(64).optional(),
        }),
      )
      .min(1)
      .max(1000),
  }),
  z.object({ kind: z.literal('stream.end'), id, error: z.string().max(4096).optional() }),
  /** Chunks the reader took since the last credit: the holder acknowledges that many to the agent. */
  z.object({ kind: z.literal('stream.credit'), id, credit: z.number().int().positive() }),
  z.object({ kind: z.literal('stream.close'), id }),
  /** The sender still reads these relayed streams (a holder gives up relays nobody vouches for). */
  z.object({ kind: z.literal('stream.alive'), ids: z.array(id).max(1000) }),
  z.object({ kind: z.literal('stream.input'), id, data: z.string().max(1_048_576) }),
  z.object({
    kind: z.literal('stream.resize'),
    id,
    rows: z.number().int().min(1).max(1000),
    cols: z.number().int().min(1).max(1000),
  }),
  z.object({ kind: z.literal('disconnect'), hostId: id, reason: z.string().max(1024) }),
]);
export type BusMessage = z.infer<typeof busMessageSchema>;

const envelopeSchema = z.union([z.object({ parked: z.uuid() }), z.object({ message: busMessageSchema })]);

/** Every instance listens here for "this team's fleet changed", to tell its browsers. */
const fleetChannel = 'berth_fleet';

function channel(instance: string): string {
  // LISTEN takes an identifier, not a parameter: only the uuid's hex digits go in.
  return `berth_${instanceId.parse(instance).replaceAll('-', '')}`;
}

export class InstanceBus implements AsyncDisposable {
  readonly instanceId = randomUUID();
  readonly #url: string;
  readonly #onMessage: (message: BusMessage) => void;
  readonly #onError: (error: Error) => void;
  readonly #onFleetChange: (teamId: string) => void;
  #client: pg.Client | undefined;
  /** Messages are handled one after another: a parked one (read back from the table) keeps its place. */
  #inbox: Promise<void> = Promise.resolve();
  #connecting: Promise<pg.Client> | undefined;
  #closed = false;
  #sweep: NodeJS.Timeout | undefined;

  private constructor(
    url: string,
    onMessage: (m: BusMessage) => void,
    onError: (e: Error) => void,
    onFleetChange: (teamId: string) => void,
  ) {
    this.#url = url;
    this.#onMessage = onMessage;
    this.#onError = onError;
    this.#onFleetChange = onFleetChange;
  }

  static async start(options: {
    databaseUrl: string;
    onMessage: (message: BusMessage) => void;
    onError?: (error: Error) => void;
    /** A team's fleet changed on another instance. */
    onFleetChange?: (teamId: string) => void;
  }): Promise<InstanceBus> {
    const bus = new InstanceBus(
      options.databaseUrl,
      options.onMessage,
      options.onError ?? (() => {}),
      options.onFleetChange ?? (() => {}),
    );
    await bus.#connection();
    bus.#sweep = setInterval(() => void bus.#sweepParked(), parkedMessageTtlMs);
    bus.#sweep.unref();
    return bus;
  }

  /** Sends a message to another instance; it is lost if that instance is gone (its asker times out). */
  async send(to: string, message: BusMessage): Promise<void> {
    const client = await this.#connection();
    let payload = JSON.stringify({ message });
    if (Buffer.byteLength(payload) > notifyLimitBytes) {
      const parked = randomUUID();
      await client.query('INSERT INTO "instance_message" ("id", "payload") VALUES ($1, $2)', [
        parked,
        JSON.stringify(message),
      ]);
      payload = JSON.stringify({ parked });
    }
    await client.query('SELECT pg_notify($1, $2)', [channel(to), payload]);
  }

  /** Tells the other instances that a team's fleet changed (their browsers of that team refresh). */
  async broadcastFleetChange(teamId: string): Promise<void> {
    const client = await this.#connection();
    await client.query('SELECT pg_notify($1, $2)', [
      fleetChannel,
      JSON.stringify({ from: this.instanceId, teamId: z.uuid().parse(teamId) }),
    ]);
  }

  #receiveFleetChange(payload: string | undefined): void {
    const parsed = z.object({ from: z.string(), teamId: z.uuid() }).safeParse(parseJsonOrUndefined(payload));
    if (parsed.success && parsed.data.from !== this.instanceId) this.#onFleetChange(parsed.data.teamId);
  }

  async #receive(payload: string | undefined): Promise<void> {
    let envelope: z.infer<typeof envelopeSchema>;
    try {
      envelope = envelopeSchema.parse(JSON.parse(payload ?? ''));
    } catch (error) {
      this.#onError(new Error(`unreadable instance message: ${(error as Error).message}`));
      return;
    }
    if ('message' in envelope) {
      this.#onMessage(envelope.message);
      return;
    }
    const client = await this.#connection();
    const taken = await client.query<{ payload: unknown }>(
      'DELETE FROM "instance_message" WHERE "id" = $1 RETURNING "payload"',
      [envelope.parked],
    );
    const parsed = busMessageSchema.safeParse(taken.rows[0]?.payload);
    if (parsed.success) this.#onMessage(parsed.data);
    else this.#onError(new Error(`parked instance message ${envelope.parked} is missing or unreadable`));
  }

  async #sweepParked(): Promise<void> {
    try {
      const client = await this.#connection();
      await client.query(`DELETE FROM "instance_message" WHERE "createdAt" < now() - interval '5 minutes'`);
    } catch {}
  }

  #connection(): Promise<pg.Client> {
    if (this.#client) return Promise.resolve(this.#client);
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #connect(): Promise<pg.Client> {
    for (let attempt = 0; ; attempt++) {
      if (this.#closed) throw new Error('the instance bus is closed');
      const client = new pg.Client({ connectionString: this.#url });
      client.on('error', () => this.#lost(client));
      client.on('end', () => this.#lost(client));
      try {
        await client.connect();
        client.on('notification', (n) => {
          if (n.channel === channel(this.instanceId)) {
            const payload = n.payload;
            this.#inbox = this.#inbox.then(() => this.#receive(payload)).catch(this.#onError);
          } else if (n.channel === fleetChannel) this.#receiveFleetChange(n.payload);
        });
        await client.query(`LISTEN ${channel(this.instanceId)}`);
        await client.query(`LISTEN ${fleetChannel}`);
        this.#client = client;
        return client;
      } catch (error) {
        await client.end().catch(() => {});
        if (attempt >= 2 && !this.#client) this.#onError(error as Error);
        await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** attempt)));
      }
    }
  }

  #lost(client: pg.Client): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    if (!this.#closed) void this.#connection().catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#closed = true;
    if (this.#sweep) clearInterval(this.#sweep);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => {});
  }
}
