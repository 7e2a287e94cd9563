/**
 * Reading the per-container log conmon writes in the CRI "k8s-file" format: one record per line,
 * `<RFC 3339 nano time> <stdout|stderr> <F|P> <text>`, where P marks a partial line continued by the next
 * record. Rotated files (`<log>.1` the newest of them, `<log>.<max-file - 1>` the oldest) are read before the
 * live one.
 */
import {
  closeSync,
  type FSWatcher,
  fstatSync,
  linkSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  watch,
} from 'node:fs';
import { basename, dirname } from 'node:path';
import { EngineError } from '../errors';

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
  /** Follow from this byte offset of the live file, replaying nothing before it (attach). */
  startOffset?: number;
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

/** The most one follow step reads from the log file. */
const followReadBytes = 1024 * 1024;
/** Block size of the backwards scan that finds where the last N lines start. */
const tailBlockBytes = 64 * 1024;

/** Whether a k8s-file record (`time stream tag text`) ends a line (tag F), not a part of one (tag P). */
function endsLine(record: Buffer): boolean {
  const first = record.indexOf(0x20);
  const second = first < 0 ? -1 : record.indexOf(0x20, first + 1);
  return second >= 0 && record[second + 1] === 0x46;
}

/**
 * Where the last `tail` lines of a log file start: just after the line end (F record) before them, found by
 * reading backwards a block at a time, so `--tail 200` of a gigabyte log reads kilobytes, not the file. 0 when
 * the file holds no more than `tail` lines.
 */
export function tailOffset(fd: number, size: number, tail: number): number {
  let full = 0;
  let pending = Buffer.alloc(0);
  let pendingStart = size;
  while (pendingStart > 0) {
    const start = Math.max(0, pendingStart - tailBlockBytes);
    pending = Buffer.concat([readFrom(fd, start, pendingStart), pending]);
    pendingStart = start;
    // `pending` ends with records not yet looked at; each ends with a newline and starts after the newline
    // before it (or at the file's start).
    let cursor = pending.length;
    for (;;) {
      const end = pending.lastIndexOf(0x0a, cursor - 1);
      if (end < 0) break;
      const before = end === 0 ? -1 : pending.lastIndexOf(0x0a, end - 1);
      if (before < 0 && pendingStart > 0) break;
      if (endsLine(pending.subarray(before + 1, end)) && ++full > tail) return pendingStart + end + 1;
      cursor = before + 1;
      if (before < 0) break;
    }
    pending = pending.subarray(0, cursor);
  }
  return 0;
}

/**
 * Reads the log; with `follow`, keeps reading new records (checked on change and every 50 ms) until
 * `isDone()` says the container stopped and the file was drained, or `signal` aborts. Following reads
 * through an open descriptor, so a log removed with its container (`--rm`) is still read to its end; `pinned`
 * is one opened by the caller at the moment that matters (attach).
 */
export async function* readLogs(
  path: string,
  options: LogReadOptions,
  isDone: () => boolean,
  signal?: AbortSignal,
  pinned?: number,
  /** Lets the owner wake the follower at once when the container stops, instead of at the next poll. */
  onStateChange?: (wake: () => void) => () => void,
): AsyncGenerator<LogEntry> {
  const parser = new LogParser();
  let offset = options.startOffset ?? 0;
  let fd = pinned;
  try {
    if (options.startOffset === undefined) {
      fd ??= openIfExists(path);
      const size = fd === undefined ? 0 : fstatSync(fd).size;
      // Only the last lines are wanted and no filter could skip some: start where they start in the live file
      // (older files are read only when it holds fewer).
      const from =
        fd !== undefined &&
        options.tail !== undefined &&
        options.stdout &&
        options.stderr &&
        options.since === undefined &&
        options.until === undefined
          ? tailOffset(fd, size, options.tail)
          : 0;
      let entries: LogEntry[] = [];
      for (const rotated of from > 0 ? [] : rotatedFiles(path)) {
        const old = openIfExists(rotated);
        if (old === undefined) continue;
        try {
          entries.push(
            ...parser.push(readFrom(old, 0, fstatSync(old).size)).filter((e) => wanted(e, options)),
          );
        } finally {
          closeSync(old);
        }
      }
      const initial = fd === undefined ? Buffer.alloc(0) : readFrom(fd, from, size);
      entries.push(...parser.push(initial).filter((e) => wanted(e, options)));
      if (!options.follow) entries.push(...parser.flush().filter((e) => wanted(e, options)));
      if (options.tail !== undefined) entries = options.tail === 0 ? [] : entries.slice(-options.tail);
      for (const entry of entries) yield entry;
      offset = from + initial.length;
    }
    if (!options.follow) return;
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
    const unsubscribe = onStateChange?.(() => wake?.());
    try {
      for (;;) {
        if (signal?.aborted) return;
        const done = isDone();
        fd ??= openIfExists(path);
        if (fd !== undefined) {
          const size = fstatSync(fd).size;
          if (size > offset) {
            // At most one slice per read: a reader that paused (its consumer out of credit) while the
            // container wrote gigabytes resumes a slice at a time instead of taking them all into memory.
            const chunk = readFrom(fd, offset, Math.min(size, offset + followReadBytes));
            offset += chunk.length;
            for (const entry of parser.push(chunk)) if (wanted(entry, options)) yield entry;
            if (options.until !== undefined && Date.now() / 1000 > options.until) return;
            continue;
          }
          const current = inodeOf(path);
          if (current !== undefined && current !== fstatSync(fd).ino) {
            // conmon replaced the file on rotation: the old one is drained; go on with the new one.
            closeSync(fd);
            fd = openIfExists(path);
            offset = 0;
            continue;
          }
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
      unsubscribe?.();
      signal?.removeEventListener('abort', onAbort);
    }
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The `max-file` and `max-size` log options, checked as dockerd checks them. */
export function logLimits(config: Record<string, string> | null | undefined): {
  maxSize?: number;
  maxFiles: number;
} {
  const size = config?.['max-size'];
  const files = config?.['max-file'];
  const maxSize = size === undefined || size === '' || size === '-1' ? undefined : parseSize(size);
  let maxFiles = 1;
  if (files !== undefined && files !== '') {
    if (!/^\d+$/.test(files) || Number(files) < 1)
      throw new EngineError('invalid_argument', 'max-file cannot be less than 1');
    maxFiles = Number(files);
  }
  if (maxFiles > 1 && maxSize === undefined)
    throw new EngineError('invalid_argument', 'max-file can only be set when max-size is set');
  return { ...(maxSize === undefined ? {} : { maxSize }), maxFiles };
}

/** Parses `10m`, `1g`, `500k` (log max-size) into bytes. */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmg]?)b?$/i.exec(text.trim());
  if (!match) throw new EngineError('invalid_argument', `invalid size: '${text}'`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[match[2]?.toLowerCase() ?? ''] ?? 1;
  return Math.floor(Number(match[1]) * unit);
}

/** Rotated generations present next to the log, oldest first. */
function rotatedFiles(path: string): string[] {
  const out: string[] = [];
  for (let n = 1; ; n++) {
    const candidate = `${path}.${n}`;
    if (inodeOf(candidate) === undefined) break;
    out.unshift(candidate);
  }
  return out;
}

/**
 * Keeps `max-file` generations of a log that conmon caps at `max-size`. conmon starts its file afresh by
 * renaming a new one over it; a hard link held on the live file (`<log>.live`) keeps the old one, which then
 * becomes `<log>.1` while older ones move up and the one past max-file goes. The link outlives the agent,
 * so a rotation while it is down is kept too (only one of several in a row would be lost, as conmon drops it).
 */
export class LogGenerations {
  readonly #path: string;
  readonly #maxFiles: number;
  readonly #held: string;
  #watcher: FSWatcher | undefined;

  private constructor(path: string, maxFiles: number) {
    this.#path = path;
    this.#maxFiles = maxFiles;
    this.#held = `${path}.live`;
  }

  static keep(path: string, maxFiles: number): LogGenerations {
    const keeper = new LogGenerations(path, maxFiles);
    keeper.check();
    const name = basename(path);
    keeper.#watcher = watch(dirname(path), (_event, file) => {
      if (file === name) keeper.check();
    });
    keeper.#watcher.on('error', () => {});
    return keeper;
  }

  /** Moves a replaced live file into the generations; synchronous, so two events never interleave. */
  check(): void {
    const live = inodeOf(this.#path);
    if (live === undefined) return;
    const held = inodeOf(this.#held);
    if (held === live) return;
    if (held !== undefined) {
      rmSync(`${this.#path}.${this.#maxFiles - 1}`, { force: true });
      for (let n = this.#maxFiles - 2; n >= 1; n--)
        if (inodeOf(`${this.#path}.${n}`) !== undefined)
          renameSync(`${this.#path}.${n}`, `${this.#path}.${n + 1}`);
      renameSync(this.#held, `${this.#path}.1`);
    }
    linkSync(this.#path, this.#held);
  }

  close(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}

export function openIfExists(path: string): number | undefined {
  try {
    return openSync(path, 'r');
  } catch {
    return undefined;
  }
}

function inodeOf(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

function readFrom(fd: number, start: number, end: number): Buffer {
  const out = Buffer.alloc(end - start);
  let done = 0;
  while (done < out.length) {
    const n = readSync(fd, out, done, out.length - done, start + done);
    if (n === 0) break;
    done += n;
  }
  return out.subarray(0, done);
}
