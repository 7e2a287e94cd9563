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

  it('takes the default bridge and the bridge prefix from flags or the environment, checked', () => {
    expect(
      readConfig(
        ['--bridge-name', 'bt0-a', '--bridge-subnet', '10.201.7.0/24', '--bridge-prefix', 'bta-'],
        {},
      ),
    ).toMatchObject({ bridgeName: 'bt0-a', bridgeSubnet: '10.201.7.0/24', bridgePrefix: 'bta-' });
    expect(
      readConfig([], {
        BERTH_BRIDGE_NAME: 'berth1',
        BERTH_BRIDGE_SUBNET: '172.30.0.0/16',
        BERTH_BRIDGE_PREFIX: 'b1-',
      }),
    ).toMatchObject({ bridgeName: 'berth1', bridgeSubnet: '172.30.0.0/16', bridgePrefix: 'b1-' });
    expect(readConfig(['--bridge-name', 'flag0'], { BERTH_BRIDGE_NAME: 'env0' }).bridgeName).toBe('flag0');
    // Longer than a Linux interface name, or with characters ip(8) refuses.
    expect(() => readConfig(['--bridge-name', 'a-very-long-bridge'], {})).toThrow(/15/);
    expect(() => readConfig(['--bridge-name', 'br/0'], {})).toThrow(/letters/);
    expect(() => readConfig(['--bridge-prefix', 'twelve-chars'], {})).toThrow(/11/);
    for (const subnet of ['10.1.0.0', '10.1.0.0/31', '10.1.0.0/4', '300.1.0.0/16', 'fd00::/64', 'x'])
      expect(() => readConfig(['--bridge-subnet', subnet], {}), subnet).toThrow(/IPv4 subnet/);
  });

  it('refuses relative paths and unknown flags', () => {
    expect(() => readConfig(['--data-root', 'rel'], {})).toThrow(/absolute/);
    expect(() => readConfig(['--bogus'], {})).toThrow();
  });
});
