/**
 * Reading the per-container log conmon writes in the CRI "k8s-file" format: one record per line,
 * `<RFC 3339 nano time> <stdout|stderr> <F|P> <text>`, where P marks a partial line continued by the next
 * record. Rotated files (`<log>.1`, oldest last) are read before the live one.
 */
import { createReadStream, watch } from 'node:fs';
import { open, stat } from 'node:fs/promises';

export interface LogEntry {
  stream: 'stdout' | 'stderr';
  /** Nanoseconds since the epoch. */
  time: bigint;
  /** The line with its newline (a TTY's line as written; a final unterminated line without one). */
  data: Buffer;
}

export interface LogReadOptions {
  stdout: boolean;
  stderr: boolean;
  follow: boolean;
  tail?: number;
  /** Seconds since the epoch, fractional. */
  since?: number;
  until?: number;
}

/** `2026-11-23T07:30:00.123456789Z` or with an offset → nanoseconds since the epoch. */
export function parseLogTime(text: string): bigint | undefined {
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  if (!match) return undefined;
  const ms = Date.parse(`${match[1]}${match[3]}`);
  if (Number.isNaN(ms)) return undefined;
  const fraction = BigInt((match[2] ?? '').padEnd(9, '0'));
  return BigInt(ms) * 1_000_000n + fraction;
}

/** Parses complete records; joins P records into the F record that ends them. */
export class LogParser {
  #pending = new Map<string, { time: bigint; parts: Buffer[] }>();
  #rest = Buffer.alloc(0);

  push(chunk: Buffer): LogEntry[] {
    const data = this.#rest.length ? Buffer.concat([this.#rest, chunk]) : chunk;
    const out: LogEntry[] = [];
    let start = 0;
    for (;;) {
      const end = data.indexOf(0x0a, start);
      if (end === -1) break;
      const entry = this.#record(data.subarray(start, end));
      if (entry) out.push(entry);
      start = end + 1;
    }
    this.#rest = Buffer.from(data.subarray(start));
    return out;
  }

  #record(line: Buffer): LogEntry | undefined {
    const first = line.indexOf(0x20);
    const second = line.indexOf(0x20, first + 1);
    const third = line.indexOf(0x20, second + 1);
    if (first < 0 || second < 0) return undefined;
    const time = parseLogTime(line.subarray(0, first).toString());
    const stream = line.subarray(first + 1, second).toString();
    if (time === undefined || (stream !== 'stdout' && stream !== 'stderr')) return undefined;
    const tag = line.subarray(second + 1, third < 0 ? line.length : third).toString();
    const text = third < 0 ? Buffer.alloc(0) : line.subarray(third + 1);
    const pending = this.#pending.get(stream);
    if (tag.startsWith('P')) {
      if (pending) pending.parts.push(Buffer.from(text));
      else this.#pending.set(stream, { time, parts: [Buffer.from(text)] });
      return undefined;
    }
    this.#pending.delete(stream);
    const parts = pending ? [...pending.parts, text, Buffer.from('\n')] : [text, Buffer.from('\n')];
    return { stream, time: pending?.time ?? time, data: Buffer.concat(parts) };
  }

  /** Partial lines still open when the container stopped (output without a final newline). */
  flush(): LogEntry[] {
    const out: LogEntry[] = [];
    for (const [stream, pending] of this.#pending)
      out.push({
        stream: stream as LogEntry['stream'],
        time: pending.time,
        data: Buffer.concat(pending.parts),
      });
    this.#pending.clear();
    return out;
  }
}

function wanted(entry: LogEntry, options: LogReadOptions): boolean {
  if (entry.stream === 'stdout' ? !options.stdout : !options.stderr) return false;
  const seconds = Number(entry.time / 1_000_000n) / 1000;
  if (options.since !== undefined && seconds < options.since) return false;
  if (options.until !== undefined && seconds > options.until) return false;
  return true;
}

async function readWhole(path: string): Promise<Buffer> {
  try {
    const handle = await open(path, 'r');
    try {
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch {
    return Buffer.alloc(0);
  }
}

/**
 * Reads the log; with `follow`, keeps reading new records (checked on change and every 50 ms) until
 * `isDone()` says the container stopped and the file was drained, or `signal` aborts.
 */
export async function* readLogs(
  path: string,
  options: LogReadOptions,
  isDone: () => boolean,
  signal?: AbortSignal,
): AsyncGenerator<LogEntry> {
  const parser = new LogParser();
  const initial = await readWhole(path);
  let entries = parser.push(initial).filter((e) => wanted(e, options));
  if (!options.follow) entries.push(...parser.flush().filter((e) => wanted(e, options)));
  if (options.tail !== undefined) entries = options.tail === 0 ? [] : entries.slice(-options.tail);
  for (const entry of entries) yield entry;
  if (!options.follow) return;
  let offset = initial.length;
  let identity = await fileIdentity(path);
  let wake: (() => void) | undefined;
  const watcher = (() => {
    try {
      return watch(path, () => wake?.());
    } catch {
      return undefined;
    }
  })();
  const onAbort = () => wake?.();
  signal?.addEventListener('abort', onAbort);
  try {
    for (;;) {
      if (signal?.aborted) return;
      const done = isDone();
      const now = await fileIdentity(path);
      if (now && identity && now.ino !== identity.ino) {
        // conmon replaced the file on rotation: the rest of the old one is lost to us; start the new one.
        offset = 0;
        identity = now;
      }
      if (now && now.size > offset) {
        const chunk = await readRange(path, offset, now.size);
        offset += chunk.length;
        for (const entry of parser.push(chunk)) if (wanted(entry, options)) yield entry;
        if (options.until !== undefined && Date.now() / 1000 > options.until) return;
        continue;
      }
      if (done) {
        for (const entry of parser.flush()) if (wanted(entry, options)) yield entry;
        return;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    watcher?.close();
    signal?.removeEventListener('abort', onAbort);
  }
}

async function fileIdentity(path: string): Promise<{ ino: number; size: number } | undefined> {
  try {
    const info = await stat(path);
    return { ino: info.ino, size: info.size };
  } catch {
    return undefined;
  }
}

function readRange(path: string, start: number, end: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    createReadStream(path, { start, end: end - 1 })
      .on('data', (chunk) => chunks.push(chunk as Buffer))
      .once('error', reject)
      .once('end', () => resolve(Buffer.concat(chunks)));
  });
}
