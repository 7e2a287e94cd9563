import { randomBytes, randomInt } from 'node:crypto';

/**
 * Engine options for tests that run containers: bridges named with the `bt` test prefix, and a default
 * bridge on its own random 10.x subnet so test files running side by side never pick the same one.
 */
export function testNetworkOptions(): {
  bridgePrefix: string;
  defaultBridgeName: string;
  defaultBridgeSubnet: string;
} {
  return {
    bridgePrefix: 'bt-',
    defaultBridgeName: `bt0-${randomBytes(3).toString('hex')}`,
    defaultBridgeSubnet: `10.${randomInt(200, 250)}.${randomInt(0, 256)}.0/24`,
  };
}
