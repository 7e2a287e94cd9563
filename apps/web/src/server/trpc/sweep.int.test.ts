/**
 * Every procedure of the real appRouter, called against a real PostgreSQL by each role of a team, by the owner of
 * another team naming this one, and by nobody signed in: allowed where the procedure's role allows, refused
 * otherwise. The input names only the team, so an allowed call that needs more stops at input validation
 * (BAD_REQUEST) after the role check passed, and never acts; a refused call never gets that far.
 *
 * A procedure added to the router without a line in `required` fails this test: say who may call it.
 */
import { TRPCError } from '@trpc/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caller, ControlPlaneHarness } from '../teams/testing';
import { startControlPlane } from '../teams/testing';

type Required = 'public' | 'signed-in' | 'viewer' | 'operator' | 'admin' | 'owner';

const required: Record<string, Required> = {
  me: 'signed-in',
  'teams.create': 'signed-in',
  'teams.members': 'viewer',
  'teams.invitations': 'admin',
  'teams.invite': 'admin',
  'teams.withdrawInvitation': 'admin',
  'teams.setRole': 'admin',
  'teams.removeMember': 'admin',
  'teams.leave': 'viewer',
  'invitations.peek': 'public',
  'invitations.accept': 'signed-in',
  'invitations.signUp': 'public',
  'containers.list': 'viewer',
  'containers.bulk': 'operator',
  'containers.deploy': 'operator',
  'containers.action': 'operator',
  'containers.get': 'viewer',
  'containers.history': 'viewer',
  'containers.usage': 'viewer',
  'containers.recreate': 'operator',
  'containers.recreateStatus': 'viewer',
  'images.list': 'viewer',
  'images.pull': 'operator',
  'images.remove': 'operator',
  'images.build': 'operator',
  'images.buildStatus': 'viewer',
  'operations.list': 'viewer',
  'audit.list': 'admin',
  'registries.list': 'viewer',
  'registries.save': 'admin',
  'registries.remove': 'admin',
  'sshInstall.probe': 'admin',
  'sshInstall.install': 'admin',
  'sshInstall.uninstall': 'admin',
  'sshInstall.run': 'admin',
  'sshInstall.forgetHostKey': 'admin',
  'sshInstall.oneLineCommand': 'admin',
  'hosts.list': 'viewer',
  'hosts.get': 'viewer',
  'hosts.rename': 'admin',
  'hosts.setLabels': 'admin',
  'hosts.revoke': 'admin',
  'hosts.startEnrollment': 'admin',
};

const ladder = ['viewer', 'operator', 'admin', 'owner'] as const;
type Who = (typeof ladder)[number] | 'foreign' | 'anonymous';

function allowed(need: Required, who: Who): boolean {
  if (need === 'public') return true;
  if (who === 'anonymous') return false;
  if (need === 'signed-in') return true;
  if (who === 'foreign') return false;
  return ladder.indexOf(who) >= ladder.indexOf(need);
}

/** What a refusal looks like for each caller: strangers learn nothing about the team (not found). */
function refusal(who: Who): string {
  if (who === 'anonymous') return 'UNAUTHORIZED';
  if (who === 'foreign') return 'NOT_FOUND';
  return 'FORBIDDEN';
}

async function call(caller: Caller, path: string, input: unknown): Promise<string> {
  const fn = path
    .split('.')
    .reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], caller) as (
    input: unknown,
  ) => Promise<unknown>;
  try {
    await fn(input);
    return 'OK';
  } catch (error) {
    if (error instanceof TRPCError) return error.code;
    throw error;
  }
}

let cp: ControlPlaneHarness;

describe('every procedure, every role', () => {
  beforeAll(async () => {
    cp = await startControlPlane('sweep');
  });
  afterAll(async () => {
    await cp?.stop();
  });

  it('allows and refuses as each procedure says', async () => {
    const paths = Object.keys(
      (cp.router.appRouter as unknown as { _def: { procedures: Record<string, unknown> } })._def.procedures,
    ).sort();
    expect(paths.filter((p) => !(p in required))).toEqual([]);
    expect(Object.keys(required).filter((p) => !paths.includes(p))).toEqual([]);

    const prisma = cp.db.db();
    const team = await prisma.team.create({ data: { name: 'bt-sweep' } });
    const other = await prisma.team.create({ data: { name: 'bt-sweep-other' } });
    const callers = new Map<Who, Caller>();
    for (const role of ladder) callers.set(role, (await cp.user(team.id, role)).caller);
    callers.set('foreign', (await cp.user(other.id, 'owner')).caller);
    callers.set(
      'anonymous',
      cp.router.appRouter.createCaller(await cp.init.createContext({ headers: new Headers() })),
    );

    const outcomes: string[] = [];
    const wrong: string[] = [];
    for (const path of paths) {
      const need = required[path] as Required;
      for (const [who, base] of callers) {
        // Leaving acts on the caller: a fresh member of that role leaves, so the others stay for what follows.
        const caller =
          path === 'teams.leave' && ladder.includes(who as (typeof ladder)[number])
            ? (await cp.user(team.id, who as (typeof ladder)[number])).caller
            : base;
        const got = await call(caller, path, { teamId: team.id });
        const ok = allowed(need, who);
        const denied = ['UNAUTHORIZED', 'FORBIDDEN', 'NOT_FOUND'].includes(got);
        outcomes.push(`${path} ${who} ${got}`);
        if (ok ? denied : got !== refusal(who))
          wrong.push(`${path} as ${who}: ${got} (expected ${ok ? 'allowed' : refusal(who)})`);
      }
    }
    expect(wrong).toEqual([]);
    // Sanity: the sweep did reach past the role check (validation) and did refuse.
    expect(outcomes.some((o) => o.endsWith('BAD_REQUEST'))).toBe(true);
    expect(outcomes.some((o) => o.endsWith('FORBIDDEN'))).toBe(true);
  });
});
