/**
 * Live logs of one or several containers of a team, as server-sent events the browser reads with fetch.
 *
 * Flow control end to end: each container's agent stream has a byte window (`logWindowBytes`), and a chunk is
 * acknowledged only when it is put into the response stream, whose `pull` runs only while the response has room
 * (a small high-water mark). A browser that stops reading fills TCP, then the response stream, then the window:
 * the agent stops reading the container's log until the browser goes on. Closing the page aborts the request,
 * which closes every agent stream.
 *
 * Several containers are merged by the agents' timestamps: a line goes out once every live source has a line
 * waiting (so the earliest is known) or it has waited `reorderMs`, so a quiet container delays the others by at
 * most that much.
 */
import { Prisma } from '@berth/db/client';
import { type AgentGateway, gateway, type StreamChunk } from '../agents/gateway';
import { db } from '../db';
import { HostNotFoundError } from './actions';
import { labelConditions } from './fleet';
import type { LogsInput } from './schemas';

/** Bytes each agent may have sent ahead of what the browser took. */
export const logWindowBytes = 256 * 1024;
/** Bytes of events the response stream holds before it stops pulling (and acknowledging). */
const responseHighWaterBytes = 64 * 1024;
/** How long a line may wait for a quieter source's earlier lines in a merged view. */
const reorderMs = 150;
/** Bytes of events gathered into one response chunk. */
const batchBytes = 32 * 1024;

export const maxLogSources = 20;

export interface LogSource {
  hostId: string;
  hostName: string;
  containerId: string;
  name: string;
}

/** The containers a request names (host and id pairs) or selects by label, among the team's live hosts. */
export async function resolveLogSources(input: LogsInput): Promise<LogSource[]> {
  const where: Prisma.Sql[] = [Prisma.sql`c."teamId" = ${input.teamId}`, Prisma.sql`h."revokedAt" IS NULL`];
  if (input.targets.length > 0) {
    const pairs = input.targets.map((t) => Prisma.sql`(${t.hostId}, ${t.containerId})`);
    where.push(Prisma.sql`(c."hostId", c."containerId") IN (${Prisma.join(pairs)})`);
  }
  where.push(...labelConditions(Prisma.sql`c."labels"`, input.labels));
  const rows = await db().$queryRaw<LogSource[]>`
    SELECT c."hostId", h."name" AS "hostName", c."containerId", c."name"
    FROM "host_container" c JOIN "host" h ON h."id" = c."hostId"
    WHERE ${Prisma.join(where, ' AND ')}
    ORDER BY h."name", c."name"
    LIMIT ${maxLogSources}`;
  if (rows.length === 0 || (input.targets.length > 0 && rows.length < input.targets.length))
    throw new HostNotFoundError('No such container in this team.');
  return rows;
}

interface Pending {
  chunk: StreamChunk;
  ack: () => void;
  arrived: number;
}

interface SourceState {
  queue: Pending[];
  /** Index of the next line to take from `queue` (shifted in bulk, not one at a time). */
  head: number;
  ended: boolean;
}

export interface LogLine {
  /** Index into the `sources` event. */
  s: number;
  stream: 'stdout' | 'stderr';
  text: string;
  time?: string;
}

export async function containerLogStream(
  input: LogsInput,
  signal: AbortSignal,
  via: AgentGateway = gateway(),
): Promise<ReadableStream<Uint8Array>> {
  const sources = await resolveLogSources(input);
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  if (signal.aborted) abort.abort();
  else signal.addEventListener('abort', onAbort, { once: true });
  abort.signal.addEventListener('abort', () => signal.removeEventListener('abort', onAbort), { once: true });

  const encoder = new TextEncoder();
  const states: SourceState[] = sources.map(() => ({ queue: [], head: 0, ended: false }));
  const notes: string[] = [];
  let wake: (() => void) | undefined;
  const poke = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  abort.signal.addEventListener('abort', poke, { once: true });
  const event = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;

  /** The next line to send, or when to look again (a merged line still inside its reorder delay). */
  const pick = (now: number): { index: number } | { retryAt: number } | undefined => {
    let best: Pending | undefined;
    let bestIndex = 0;
    let bestTime = '';
    let waitingOnQuiet = false;
    for (const [index, state] of states.entries()) {
      const head = state.queue[state.head];
      if (!head) {
        if (!state.ended) waitingOnQuiet = true;
        continue;
      }
      const time = head.chunk.time ?? '';
      if (best === undefined || time < bestTime) {
        best = head;
        bestIndex = index;
        bestTime = time;
      }
    }
    if (best === undefined) return undefined;
    if (!waitingOnQuiet || states.length === 1) return { index: bestIndex };
    return best.arrived + reorderMs <= now ? { index: bestIndex } : { retryAt: best.arrived + reorderMs };
  };

  const take = (index: number): Pending => {
    const state = states[index] as SourceState;
    const pending = state.queue[state.head++] as Pending;
    if (state.head > 1024 && state.head * 2 > state.queue.length) {
      state.queue = state.queue.slice(state.head);
      state.head = 0;
    }
    return pending;
  };

  const finished = () => states.every((s) => s.ended && s.head >= s.queue.length);

  const stream = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        // A comment first: the response's headers go out now, not with the first line of a quiet container.
        controller.enqueue(encoder.encode(`: open\n\n${event('sources', sources)}`));
        for (const [index, source] of sources.entries()) {
          const state = states[index] as SourceState;
          const end = (error?: string) => {
            if (state.ended) return;
            state.ended = true;
            notes.push(event('source-end', { s: index, error: error ?? null }));
            poke();
          };
          via
            .openStream(
              source.hostId,
              {
                kind: 'logs',
                containerId: source.containerId,
                tail: input.tail,
                follow: true,
                timestamps: true,
                ...(input.since !== undefined ? { since: input.since } : {}),
              },
              {
                onData: (chunk, ack) => {
                  state.queue.push({ chunk, ack, arrived: Date.now() });
                  poke();
                },
                onEnd: end,
              },
              abort.signal,
              { window: logWindowBytes },
            )
            // Offline, or the instance holding the agent is unreachable: said in the stream, as this source's end.
            .catch((error: Error) => end(error.message));
        }
      },
      async pull(controller) {
        for (;;) {
          let out = notes.splice(0).join('');
          const acks: Array<() => void> = [];
          let retryAt: number | undefined;
          const now = Date.now();
          while (out.length < batchBytes) {
            const next = pick(now);
            if (!next) break;
            if ('retryAt' in next) {
              retryAt = next.retryAt;
              break;
            }
            const { chunk, ack } = take(next.index);
            const line: LogLine = {
              s: next.index,
              stream: chunk.stream,
              text: chunk.data.toString('utf8'),
              ...(chunk.time ? { time: chunk.time } : {}),
            };
            out += event('line', line);
            acks.push(ack);
          }
          if (finished()) {
            out += event('end', { error: null });
            controller.enqueue(encoder.encode(out));
            controller.close();
            abort.abort();
            return;
          }
          if (out.length > 0) {
            controller.enqueue(encoder.encode(out));
            // Taken by the response: the agents may send as much again.
            for (const ack of acks) ack();
            return;
          }
          if (abort.signal.aborted) return;
          await new Promise<void>((resolve) => {
            const timer = retryAt === undefined ? undefined : setTimeout(resolve, retryAt - Date.now());
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          if (abort.signal.aborted) return;
        }
      },
      cancel() {
        abort.abort();
      },
    },
    { highWaterMark: responseHighWaterBytes, size: (chunk) => chunk.byteLength },
  );
  return stream;
}
