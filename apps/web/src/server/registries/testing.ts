/**
 * For integration tests that pull or push through the control plane: Debian's registry with htpasswd auth,
 * its credential saved for a team as an admin saves it, so that the team's agents are let in by it alone.
 */
import { type StartedRegistry, startRegistry } from '@berth/engine/testing/index';
import type { ControlPlaneHarness } from '../teams/testing';

export interface RegistryUser {
  username: string;
  password: string;
}

export async function startTeamRegistry(
  cp: ControlPlaneHarness,
  teamId: string,
  user: RegistryUser,
): Promise<StartedRegistry> {
  const registry = await startRegistry({ auth: 'htpasswd', users: { [user.username]: user.password } });
  try {
    const admin = (await cp.user(teamId, 'admin')).caller;
    await admin.registries.save({ teamId, serverAddress: registry.host, ...user });
    return registry;
  } catch (error) {
    await registry.stop();
    throw error;
  }
}
