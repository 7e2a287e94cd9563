/**
 * The control plane's log: one JSON object per line on stdout (pino), for whatever collects the process's
 * output. Never given a secret: callers log ids, names and outcomes.
 */
import { pino } from 'pino';
import { env } from '../env';

let logger: pino.Logger | undefined;

export function log(): pino.Logger {
  logger ??= pino({ name: 'berth-control-plane', level: env().LOG_LEVEL });
  return logger;
}
