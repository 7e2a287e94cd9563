import { describe, expect, it } from 'vitest';
import { EngineError } from '../errors';
import {
  type FilterableNetwork,
  matchesNetworkFilters,
  matchesPruneFilters,
  parseNetworkFilters,
  parseNetworkPruneFilters,
} from './filters';

const network = (name: string, extra: Partial<FilterableNetwork> = {}): FilterableNetwork => ({
  Name: name,
  Id: `${name.padEnd(4, 'x')}`.replace(/[^0-9a-f]/g, 'a').padEnd(64, '0'),
  Driver: name === 'host' ? 'host' : name === 'none' ? 'null' : 'bridge',
  Scope: 'local',
  Labels: {},
  Containers: {},
  ...extra,
});

const all = [
  network('bridge', { Containers: { c1: {} } }),
  network('host'),
  network('none'),
  network('bt-web', { Id: `abc${'1'.repeat(61)}`, Labels: { env: 'prod', team: 'a' } }),
  network('bt-db', { Id: `abd${'2'.repeat(61)}`, Labels: { env: 'dev' }, Containers: { c2: {} } }),
];

const names = (raw: Record<string, string[]>) =>
  all.filter((n) => matchesNetworkFilters(n, parseNetworkFilters(raw))).map((n) => n.Name);

function refused(fn: () => unknown, message: string): void {
  try {
    fn();
  } catch (error) {
    expect(EngineError.is(error, 'invalid_argument')).toBe(true);
    expect((error as Error).message).toBe(message);
    return;
  }
  throw new Error(`expected "${message}"`);
}

describe('network ls filters', () => {
  it('passes everything without filters', () => {
    expect(names({})).toHaveLength(5);
    expect(names({ name: [] })).toHaveLength(5);
  });

  it('matches name and id like dockerd: exact, or as an unanchored regular expression', () => {
    expect(names({ name: ['bt-'] })).toEqual(['bt-web', 'bt-db']);
    expect(names({ name: ['^bt-w'] })).toEqual(['bt-web']);
    expect(names({ name: ['web', 'db'] })).toEqual(['bt-web', 'bt-db']);
    expect(names({ name: ['(unclosed'] })).toEqual([]);
    expect(names({ id: ['abc'] })).toEqual(['bt-web']);
    expect(names({ id: ['ab'] })).toEqual(['bt-web', 'bt-db']);
  });

  it('matches labels (all must hold), driver, scope, type and dangling', () => {
    expect(names({ label: ['env'] })).toEqual(['bt-web', 'bt-db']);
    expect(names({ label: ['env=prod'] })).toEqual(['bt-web']);
    expect(names({ label: ['env', 'team=a'] })).toEqual(['bt-web']);
    expect(names({ label: ['env=prod', 'env=dev'] })).toEqual([]);
    expect(names({ driver: ['null', 'host'] })).toEqual(['host', 'none']);
    expect(names({ scope: ['local'] })).toHaveLength(5);
    expect(names({ scope: ['swarm'] })).toEqual([]);
    expect(names({ type: ['builtin'] })).toEqual(['bridge', 'host', 'none']);
    expect(names({ type: ['custom'] })).toEqual(['bt-web', 'bt-db']);
    expect(names({ type: ['custom', 'builtin'] })).toHaveLength(5);
    expect(names({ dangling: ['true'] })).toEqual(['bt-web']);
    expect(names({ dangling: ['1'] })).toEqual(['bt-web']);
    expect(names({ dangling: ['false'] })).toEqual(['bridge', 'host', 'none', 'bt-db']);
    expect(names({ type: ['custom'], dangling: ['0'] })).toEqual(['bt-db']);
  });

  it('refuses unknown keys and values with dockerd messages', () => {
    refused(() => parseNetworkFilters({ nmae: ['x'] }), "invalid filter 'nmae'");
    refused(() => parseNetworkFilters({ type: ['user'] }), "invalid filter: 'type'='user'");
    refused(() => parseNetworkFilters({ dangling: ['yes'] }), "invalid filter 'dangling=yes'");
  });
});

describe('network prune filters', () => {
  const now = Date.parse('2026-01-02T00:00:00Z');
  const old = { Labels: { keep: 'yes' }, Created: '2026-01-01T00:00:00Z' };
  const fresh = { Labels: {}, Created: '2026-01-01T23:30:00Z' };

  it('filters by label, label! and until (timestamp, Unix seconds, duration)', () => {
    const match = (raw: Record<string, string[]>) =>
      [old, fresh].map((n) => matchesPruneFilters(n, parseNetworkPruneFilters(raw, now)));
    expect(match({})).toEqual([true, true]);
    expect(match({ label: ['keep'] })).toEqual([true, false]);
    expect(match({ 'label!': ['keep'] })).toEqual([false, true]);
    expect(match({ 'label!': ['keep=no'] })).toEqual([true, true]);
    expect(match({ until: ['1h'] })).toEqual([true, false]);
    expect(match({ until: ['10m'] })).toEqual([true, true]);
    expect(match({ until: ['2026-01-01T12:00:00Z'] })).toEqual([true, false]);
    expect(match({ until: [String(Date.parse('2026-01-01T12:00:00Z') / 1000)] })).toEqual([true, false]);
  });

  it('refuses what dockerd refuses', () => {
    refused(() => parseNetworkPruneFilters({ name: ['x'] }), "invalid filter 'name'");
    refused(() => parseNetworkPruneFilters({ until: ['soon'] }), "invalid filter 'until=soon'");
    refused(() => parseNetworkPruneFilters({ until: ['1h', '2h'] }), 'more than one until filter specified');
  });
});
