import { describe, expect, it } from 'vitest';
import { readConfig } from './config';

describe('agent config', () => {
  it('uses the defaults when nothing is given', () => {
    expect(readConfig([], {})).toEqual({
      dataRoot: '/var/lib/berth',
      dockerSocket: '/run/berth/docker.sock',
      logLevel: 'info',
      updateIntervalMs: 600_000,
    });
  });

  it('reads the update interval and pid file from the environment, checked', () => {
    expect(
      readConfig([], { BERTH_UPDATE_INTERVAL_MS: '5000', BERTH_PID_FILE: '/opt/berth/agent.pid' }),
    ).toMatchObject({
      updateIntervalMs: 5000,
      pidFile: '/opt/berth/agent.pid',
    });
    expect(() => readConfig([], { BERTH_UPDATE_INTERVAL_MS: 'soon' })).toThrow();
    expect(() => readConfig([], { BERTH_PID_FILE: 'agent.pid' })).toThrow(/absolute/);
  });

  it('takes the environment, and flags over the environment', () => {
    const env = { BERTH_DATA_ROOT: '/srv/berth', BERTH_DOCKER_SOCKET: '/tmp/e.sock' };
    expect(readConfig([], env)).toMatchObject({ dataRoot: '/srv/berth', dockerSocket: '/tmp/e.sock' });
    expect(readConfig(['--docker-socket', '/tmp/f.sock'], env)).toMatchObject({
      dataRoot: '/srv/berth',
      dockerSocket: '/tmp/f.sock',
    });
  });

  it('refuses relative paths and unknown flags', () => {
    expect(() => readConfig(['--data-root', 'rel'], {})).toThrow(/absolute/);
    expect(() => readConfig(['--bogus'], {})).toThrow();
  });
});
