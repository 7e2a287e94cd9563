/**
 * `network ls` / `network prune` filters, with dockerd's semantics (moby `daemon/network/filter.go` and
 * `api/types/filters`): unknown keys and values are refused rather than ignored, so a typo never lists or
 * prunes more than the user meant.
 */
import { z } from 'zod';
import { EngineError } from '../errors';
import { labelMatches } from '../volumes/store';

export const predefinedNetworks = ['bridge', 'host', 'none'] as const;

const listKeys = ['dangling', 'driver', 'id', 'label', 'name', 'scope', 'type'] as const;
const pruneKeys = ['label', 'label!', 'until'] as const;

const booleanValue = z.enum(['true', 'false', '1', '0']);

export interface NetworkFilters {
  dangling?: boolean;
  driver?: string[];
  id?: string[];
  label?: string[];
  name?: string[];
  scope?: string[];
  type?: Array<'custom' | 'builtin'>;
}

export interface NetworkPruneFilters {
  label?: string[];
  notLabel?: string[];
  /** Networks created before this instant (ms since the epoch). */
  until?: number;
}

function refuseUnknownKeys(raw: Record<string, string[]>, accepted: readonly string[]): void {
  for (const key of Object.keys(raw))
    if (!accepted.includes(key)) throw new EngineError('invalid_argument', `invalid filter '${key}'`);
}

export function parseNetworkFilters(raw: Record<string, string[]> = {}): NetworkFilters {
  refuseUnknownKeys(raw, listKeys);
  const out: NetworkFilters = {};
  for (const key of ['driver', 'id', 'label', 'name', 'scope'] as const) {
    const values = raw[key];
    if (values?.length) out[key] = values;
  }
  const types = raw.type ?? [];
  if (types.length) {
    out.type = types.map((value) => {
      if (value !== 'custom' && value !== 'builtin')
        throw new EngineError('invalid_argument', `invalid filter: 'type'='${value}'`);
      return value;
    });
  }
  const dangling = raw.dangling ?? [];
  if (dangling.length) {
    const parsed = dangling.map((value) => {
      const result = booleanValue.safeParse(value.toLowerCase());
      if (!result.success) throw new EngineError('invalid_argument', `invalid filter 'dangling=${value}'`);
      return result.data === 'true' || result.data === '1';
    });
    // dockerd takes the first value; two different ones would match nothing anyway.
    out.dangling = parsed[0] as boolean;
  }
  return out;
}

/** Docker's `until` accepts RFC 3339 timestamps, Unix seconds (with fraction) and Go durations like `24h`. */
function parseUntil(value: string, now: number): number {
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const duration = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value);
  if (duration) {
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[duration[2] as 'ms' | 's' | 'm' | 'h'];
    return now - Number(duration[1]) * unit;
  }
  const parsed = Date.parse(value);
  if (Number.isNaN(parsed)) throw new EngineError('invalid_argument', `invalid filter 'until=${value}'`);
  return parsed;
}

export function parseNetworkPruneFilters(
  raw: Record<string, string[]> = {},
  now = Date.now(),
): NetworkPruneFilters {
  refuseUnknownKeys(raw, pruneKeys);
  const out: NetworkPruneFilters = {};
  if (raw.label?.length) out.label = raw.label;
  if (raw['label!']?.length) out.notLabel = raw['label!'];
  const until = raw.until ?? [];
  if (until.length > 1) throw new EngineError('invalid_argument', 'more than one until filter specified');
  if (until[0] !== undefined) out.until = parseUntil(until[0], now);
  return out;
}

/** dockerd's `filters.Match`: an exact match, or the value taken as an unanchored regular expression. */
function dockerMatch(values: string[], source: string): boolean {
  return values.some((value) => {
    if (value === source) return true;
    try {
      return new RegExp(value).test(source);
    } catch {
      return false;
    }
  });
}

export interface FilterableNetwork {
  Name: string;
  Id: string;
  Driver: string;
  Scope: string;
  Labels: Record<string, string>;
  Containers: Record<string, unknown>;
}

export function isPredefined(name: string): boolean {
  return (predefinedNetworks as readonly string[]).includes(name);
}

export function matchesNetworkFilters(network: FilterableNetwork, filters: NetworkFilters): boolean {
  if (filters.driver && !filters.driver.includes(network.Driver)) return false;
  if (filters.name && !dockerMatch(filters.name, network.Name)) return false;
  if (filters.id && !dockerMatch(filters.id, network.Id)) return false;
  if (filters.label && !filters.label.every((l) => labelMatches(network.Labels, l))) return false;
  if (filters.scope && !filters.scope.includes(network.Scope)) return false;
  if (filters.type && !filters.type.includes(isPredefined(network.Name) ? 'builtin' : 'custom')) return false;
  if (filters.dangling !== undefined) {
    const dangling = Object.keys(network.Containers).length === 0 && !isPredefined(network.Name);
    if (dangling !== filters.dangling) return false;
  }
  return true;
}

export function matchesPruneFilters(
  network: { Labels: Record<string, string>; Created: string },
  filters: NetworkPruneFilters,
): boolean {
  if (filters.label && !filters.label.every((l) => labelMatches(network.Labels, l))) return false;
  if (filters.notLabel?.some((l) => labelMatches(network.Labels, l))) return false;
  if (filters.until !== undefined && Date.parse(network.Created) >= filters.until) return false;
  return true;
}
