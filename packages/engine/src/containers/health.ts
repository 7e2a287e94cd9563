/**
 * Healthchecks, as dockerd runs them: a container whose config (or image) has a `Healthcheck` is probed every
 * `Interval` by running its test inside it; exit 0 is healthy, anything else (or a probe that outlives
 * `Timeout`) a failure, and `Retries` failures in a row make it unhealthy. Failures within `StartPeriod` of the
 * start do not count while it has never been healthy. The last five results are kept with their output.
 * Durations are nanoseconds, as in the Docker API.
 */
import { z } from 'zod';
import { EngineError } from '../errors';

export const healthcheckSchema = z.looseObject({
  Test: z.array(z.string()).nullish(),
  Interval: z.number().int().optional(),
  Timeout: z.number().int().optional(),
  StartPeriod: z.number().int().optional(),
  Retries: z.number().int().optional(),
});
export type Healthcheck = z.infer<typeof healthcheckSchema>;

const logEntrySchema = z.object({
  Start: z.string(),
  End: z.string(),
  ExitCode: z.number().int(),
  Output: z.string(),
});
export type HealthLogEntry = z.infer<typeof logEntrySchema>;

export const healthStateSchema = z.object({
  Status: z.enum(['starting', 'healthy', 'unhealthy']),
  FailingStreak: z.number().int(),
  Log: z.array(logEntrySchema),
});
export type HealthState = z.infer<typeof healthStateSchema>;

const nsPerMs = 1_000_000;
/** dockerd's defaults, in ms. */
export const healthDefaults = { intervalMs: 30_000, timeoutMs: 30_000, startPeriodMs: 0, retries: 3 };
const maxLogEntries = 5;
const maxOutputBytes = 4096;

/** Refuses what dockerd refuses at create, with its words. */
export function checkHealthcheck(check: Healthcheck | null | undefined): void {
  if (!check) return;
  for (const field of ['Interval', 'Timeout', 'StartPeriod'] as const) {
    const value = check[field];
    if (value !== undefined && value !== 0 && value < nsPerMs)
      throw new EngineError('invalid_argument', `${field} in Healthcheck cannot be less than 1ms`);
  }
  if (check.Retries !== undefined && check.Retries < 0)
    throw new EngineError('invalid_argument', 'Retries in Healthcheck cannot be negative');
  const kind = check.Test?.[0];
  if (kind !== undefined && !['NONE', 'CMD', 'CMD-SHELL'].includes(kind))
    throw new EngineError('invalid_argument', `unknown Healthcheck type '${kind}'`);
}

/**
 * The container's healthcheck: its own over its image's, field by field as dockerd merges them (an empty test
 * or a zero duration takes the image's).
 */
export function mergeHealthcheck(
  own: Healthcheck | null | undefined,
  image: Healthcheck | null | undefined,
): Healthcheck | undefined {
  if (!own) return image ?? undefined;
  if (!image) return own;
  return {
    ...own,
    Test: own.Test?.length ? own.Test : image.Test,
    Interval: own.Interval || image.Interval,
    Timeout: own.Timeout || image.Timeout,
    StartPeriod: own.StartPeriod || image.StartPeriod,
    Retries: own.Retries || image.Retries,
  };
}

/** The command a probe runs, or undefined when the container has no healthcheck (none, or `NONE`). */
export function probeCommand(check: Healthcheck | undefined): string[] | undefined {
  const test = check?.Test;
  if (!test?.length || test[0] === 'NONE') return undefined;
  if (test[0] === 'CMD-SHELL') return ['/bin/sh', '-c', test.slice(1).join(' ')];
  if (test[0] === 'CMD' && test.length > 1) return test.slice(1);
  return undefined;
}

export interface ProbeResult {
  start: Date;
  end: Date;
  exitCode: number;
  output: string;
}

/** The health after one probe (dockerd's handleProbeResult). */
export function nextHealth(
  health: HealthState,
  result: ProbeResult,
  options: { startedAt: Date; startPeriodMs: number; retries: number },
): HealthState {
  const entry: HealthLogEntry = {
    Start: result.start.toISOString(),
    End: result.end.toISOString(),
    ExitCode: result.exitCode,
    Output: truncate(result.output),
  };
  const log = [...health.Log, entry].slice(-maxLogEntries);
  if (result.exitCode === 0) return { Status: 'healthy', FailingStreak: 0, Log: log };
  const inStartPeriod =
    health.Status === 'starting' &&
    result.start.getTime() - options.startedAt.getTime() < options.startPeriodMs;
  if (inStartPeriod) return { ...health, Log: log };
  const streak = health.FailingStreak + 1;
  return {
    Status: streak >= options.retries ? 'unhealthy' : health.Status,
    FailingStreak: streak,
    Log: log,
  };
}

function truncate(output: string): string {
  const bytes = Buffer.from(output);
  return bytes.length <= maxOutputBytes ? output : bytes.subarray(0, maxOutputBytes).toString();
}

/** A duration as Go prints one (`30s`, `100ms`, `1m30s`), for dockerd's timeout message. */
export function goDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = (ms % 60_000) / 1000;
  return `${hours ? `${hours}h` : ''}${hours || minutes ? `${minutes}m` : ''}${Number(seconds.toFixed(3))}s`;
}

/** Nanoseconds (the API's unit) to ms, or the default when unset. */
export function healthTiming(check: Healthcheck): {
  intervalMs: number;
  timeoutMs: number;
  startPeriodMs: number;
  retries: number;
} {
  const ms = (ns: number | undefined, fallback: number) =>
    ns ? Math.max(1, Math.round(ns / nsPerMs)) : fallback;
  return {
    intervalMs: ms(check.Interval, healthDefaults.intervalMs),
    timeoutMs: ms(check.Timeout, healthDefaults.timeoutMs),
    startPeriodMs: ms(check.StartPeriod, healthDefaults.startPeriodMs),
    retries: check.Retries || healthDefaults.retries,
  };
}

/** `Up 3 minutes (healthy)`: what `docker ps` adds for a running container with a healthcheck. */
export function healthText(health: HealthState | undefined): string {
  if (!health) return '';
  return health.Status === 'starting' ? ' (health: starting)' : ` (${health.Status})`;
}

/** Runs one container's probes on its interval until stopped; a probe never overlaps the next. */
export class HealthMonitor {
  readonly #intervalMs: number;
  readonly #probe: (signal: AbortSignal) => Promise<void>;
  #timer: NodeJS.Timeout | undefined;
  #running: AbortController | undefined;
  #stopped = false;

  constructor(options: { intervalMs: number; probe: (signal: AbortSignal) => Promise<void> }) {
    this.#intervalMs = options.intervalMs;
    this.#probe = options.probe;
  }

  start(): this {
    this.#schedule();
    return this;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(async () => {
      const controller = new AbortController();
      this.#running = controller;
      try {
        await this.#probe(controller.signal);
      } catch {
        // A probe that could not run (the container stopping under it) is no result; the next one decides.
      } finally {
        this.#running = undefined;
        this.#schedule();
      }
    }, this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#running?.abort();
  }
}
