import { describe, expect, it } from 'vitest';
import { EngineError } from '../errors';
import {
  checkHealthcheck,
  goDuration,
  type HealthState,
  healthText,
  healthTiming,
  mergeHealthcheck,
  nextHealth,
  probeCommand,
} from './health';

const startedAt = new Date('2026-01-01T00:00:00Z');
const at = (ms: number) => new Date(startedAt.getTime() + ms);
const probe = (ms: number, exitCode: number, output = '') => ({
  start: at(ms),
  end: at(ms + 5),
  exitCode,
  output,
});
const starting: HealthState = { Status: 'starting', FailingStreak: 0, Log: [] };

describe('healthchecks', () => {
  it('turn unhealthy after Retries failures in a row, and healthy at the first success', () => {
    const options = { startedAt, startPeriodMs: 0, retries: 3 };
    let health = nextHealth(starting, probe(100, 1), options);
    expect(health).toMatchObject({ Status: 'starting', FailingStreak: 1 });
    health = nextHealth(health, probe(200, 1), options);
    expect(health).toMatchObject({ Status: 'starting', FailingStreak: 2 });
    health = nextHealth(health, probe(300, 2), options);
    expect(health).toMatchObject({ Status: 'unhealthy', FailingStreak: 3 });
    health = nextHealth(health, probe(400, 0, 'ok\n'), options);
    expect(health).toMatchObject({ Status: 'healthy', FailingStreak: 0 });
    health = nextHealth(health, probe(500, 1), options);
    expect(health).toMatchObject({ Status: 'healthy', FailingStreak: 1 });
  });

  it('do not count failures within the start period before the first success', () => {
    const options = { startedAt, startPeriodMs: 1000, retries: 1 };
    let health = nextHealth(starting, probe(500, 1), options);
    expect(health).toMatchObject({ Status: 'starting', FailingStreak: 0 });
    health = nextHealth(health, probe(1500, 1), options);
    expect(health).toMatchObject({ Status: 'unhealthy', FailingStreak: 1 });
    // Once healthy, the start period no longer shields a failure.
    const healthy = nextHealth(starting, probe(100, 0), options);
    expect(nextHealth(healthy, probe(200, 1), options)).toMatchObject({
      Status: 'unhealthy',
      FailingStreak: 1,
    });
  });

  it('keep the last five results with their output cut at 4096 bytes', () => {
    const options = { startedAt, startPeriodMs: 0, retries: 3 };
    let health = starting;
    for (let i = 0; i < 7; i++) health = nextHealth(health, probe(i * 100, 0, `run ${i}`), options);
    expect(health.Log.map((l) => l.Output)).toEqual(['run 2', 'run 3', 'run 4', 'run 5', 'run 6']);
    health = nextHealth(health, probe(900, 0, 'x'.repeat(5000)), options);
    expect(health.Log.at(-1)?.Output).toHaveLength(4096);
  });

  it('run CMD as given and CMD-SHELL through /bin/sh; NONE and an empty test run nothing', () => {
    expect(probeCommand({ Test: ['CMD', 'curl', '-f', 'http://localhost'] })).toEqual([
      'curl',
      '-f',
      'http://localhost',
    ]);
    expect(probeCommand({ Test: ['CMD-SHELL', 'test -e /ok || exit 1'] })).toEqual([
      '/bin/sh',
      '-c',
      'test -e /ok || exit 1',
    ]);
    expect(probeCommand({ Test: ['NONE'] })).toBeUndefined();
    expect(probeCommand({ Test: [] })).toBeUndefined();
    expect(probeCommand(undefined)).toBeUndefined();
  });

  it("merge a container's own settings over its image's, field by field", () => {
    const image = { Test: ['CMD-SHELL', 'image-test'], Interval: 5e9, Retries: 4 };
    expect(mergeHealthcheck({ Interval: 1e9 }, image)).toMatchObject({
      Test: ['CMD-SHELL', 'image-test'],
      Interval: 1e9,
      Retries: 4,
    });
    expect(mergeHealthcheck({ Test: ['NONE'] }, image)?.Test).toEqual(['NONE']);
    expect(mergeHealthcheck(undefined, image)).toEqual(image);
    expect(healthTiming({ Test: ['CMD', 'x'] })).toEqual({
      intervalMs: 30_000,
      timeoutMs: 30_000,
      startPeriodMs: 0,
      retries: 3,
    });
    expect(healthTiming({ Interval: 200e6, Timeout: 1.5e9, Retries: 2 })).toMatchObject({
      intervalMs: 200,
      timeoutMs: 1500,
      retries: 2,
    });
  });

  it("refuse what dockerd refuses, in dockerd's words", () => {
    expect(() => checkHealthcheck({ Interval: 500 })).toThrow(
      'Interval in Healthcheck cannot be less than 1ms',
    );
    expect(() => checkHealthcheck({ Timeout: 10 })).toThrow('Timeout in Healthcheck cannot be less than 1ms');
    expect(() => checkHealthcheck({ Retries: -1 })).toThrow('Retries in Healthcheck cannot be negative');
    expect(() => checkHealthcheck({ Test: ['SHELL', 'x'] })).toThrow(EngineError);
    expect(() => checkHealthcheck({ Test: ['CMD', 'x'], Interval: 0 })).not.toThrow();
  });

  it('print as docker ps and Go print them', () => {
    expect(healthText(undefined)).toBe('');
    expect(healthText(starting)).toBe(' (health: starting)');
    expect(healthText({ ...starting, Status: 'unhealthy' })).toBe(' (unhealthy)');
    expect([
      goDuration(300),
      goDuration(30_000),
      goDuration(90_000),
      goDuration(1500),
      goDuration(3_600_000),
    ]).toEqual(['300ms', '30s', '1m30s', '1.5s', '1h0m0s']);
  });
});
