import { describe, expect, it } from 'vitest';
import { healthLabel, healthOf } from './health';

describe('healthOf', () => {
  it('reads the health docker ps adds to a running container, and nothing else', () => {
    expect(healthOf('Up 3 minutes (healthy)')).toBe('healthy');
    expect(healthOf('Up 1 second (unhealthy)')).toBe('unhealthy');
    expect(healthOf('Up Less than a second (health: starting)')).toBe('starting');
    expect(healthOf('Up 3 minutes')).toBeUndefined();
    expect(healthOf('Up 3 minutes (Paused)')).toBeUndefined();
    expect(healthOf('Exited (0) 2 hours ago')).toBeUndefined();
    expect(healthOf(undefined)).toBeUndefined();
    expect(healthLabel('starting')).toBe('health: starting');
    expect(healthLabel('healthy')).toBe('healthy');
  });
});
