/**
 * How container output goes on the wire for logs, attach and exec: TTY output is raw bytes; otherwise each
 * chunk is one multiplexed frame tagged stdout or stderr. `docker logs -t` puts an RFC 3339 time with
 * nanoseconds in front of each line, as dockerd does.
 */
import { ApiError } from './errors';
import { frame } from './framing';

export interface OutputChunk {
  stream: 'stdout' | 'stderr';
  data: Buffer;
  /** When the line was written; needed for timestamps. Nanoseconds since the epoch as bigint, or a Date. */
  time?: bigint | Date;
}

export function rfc3339Nano(time: bigint | Date): string {
  const ns = typeof time === 'bigint' ? time : BigInt(time.getTime()) * 1_000_000n;
  const ms = Number(ns / 1_000_000n);
  const base = new Date(ms).toISOString().slice(0, 19);
  const fraction = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return `${base}.${fraction}Z`;
}

export function encodeOutput(chunk: OutputChunk, options: { tty: boolean; timestamps?: boolean }): Buffer {
  let data = chunk.data;
  if (options.timestamps && chunk.time !== undefined)
    data = Buffer.concat([Buffer.from(`${rfc3339Nano(chunk.time)} `), data]);
  return options.tty ? data : frame(chunk.stream, data);
}

export interface LogsQuery {
  stdout: boolean;
  stderr: boolean;
  follow: boolean;
  timestamps: boolean;
  /** Undefined means all lines. */
  tail: number | undefined;
  /** Seconds since the epoch. */
  since: number | undefined;
  until: number | undefined;
}

function parseTime(name: string, raw: string | null): number | undefined {
  if (raw === null || raw === '' || raw === '0') return undefined;
  if (/^\d+(\.\d+)?$/.test(raw)) return Number(raw);
  const ms = Date.parse(raw);
  if (Number.isNaN(ms)) throw new ApiError(400, `invalid value for ${name}: ${raw}`);
  return ms / 1000;
}

function flag(query: URLSearchParams, name: string): boolean {
  const value = query.get(name);
  return value !== null && !['', '0', 'no', 'false', 'none'].includes(value.toLowerCase());
}

/** `GET /containers/{id}/logs` query, with dockerd's rule that one of stdout/stderr must be asked for. */
export function parseLogsQuery(query: URLSearchParams): LogsQuery {
  const stdout = flag(query, 'stdout');
  const stderr = flag(query, 'stderr');
  if (!stdout && !stderr) throw new ApiError(400, 'Bad parameters: you must choose at least one stream');
  const rawTail = query.get('tail');
  let tail: number | undefined;
  if (rawTail !== null && rawTail !== '' && rawTail !== 'all') {
    tail = Number(rawTail);
    if (!Number.isInteger(tail)) throw new ApiError(400, `invalid value for tail: ${rawTail}`);
    if (tail < 0) tail = undefined;
  }
  return {
    stdout,
    stderr,
    follow: flag(query, 'follow'),
    timestamps: flag(query, 'timestamps'),
    tail,
    since: parseTime('since', query.get('since')),
    until: parseTime('until', query.get('until')),
  };
}
