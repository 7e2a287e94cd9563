import { TRPCError } from '@trpc/server';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { Role } from '../teams/roles';

// The session and the membership come from the database in the server; here they are what each test says.
const state = vi.hoisted(() => ({
  session: null as null | { user: { id: string; name: string; email: string } },
  roles: new Map<string, string>(),
}));
vi.mock('../auth', () => ({ sessionFrom: async () => state.session }));
vi.mock('../teams/membership', () => ({
  roleIn: async (userId: string, teamId: string) => state.roles.get(`${userId}/${teamId}`) ?? null,
}));

const { protectedProcedure, router, teamProcedure } = await import('./init');

const teamA = '11111111-1111-4111-8111-111111111111';
const teamB = '22222222-2222-4222-8222-222222222222';

const testRouter = router({
  whoami: protectedProcedure.query(({ ctx }) => ctx.user.id),
  read: teamProcedure('viewer').query(({ ctx }) => ({ team: ctx.teamId, role: ctx.role })),
  operate: teamProcedure('operator').mutation(({ ctx }) => ctx.role),
  administer: teamProcedure('admin').mutation(({ ctx }) => ctx.role),
  own: teamProcedure('owner').mutation(({ ctx }) => ctx.role),
});

function caller() {
  return testRouter.createCaller({ session: state.session as never, headers: new Headers() });
}

async function code(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'OK';
  } catch (error) {
    if (error instanceof TRPCError) return error.code;
    throw error;
  }
}

function signIn(userId: string, memberships: Record<string, Role> = {}) {
  state.session = { user: { id: userId, name: userId, email: `${userId}@example.test` } };
  state.roles = new Map(Object.entries(memberships).map(([team, role]) => [`${userId}/${team}`, role]));
}

describe('protectedProcedure', () => {
  beforeEach(() => {
    state.session = null;
    state.roles = new Map();
  });

  it('refuses a caller without a session, and passes the user on otherwise', async () => {
    expect(await code(caller().whoami())).toBe('UNAUTHORIZED');
    expect(await code(caller().read({ teamId: teamA }))).toBe('UNAUTHORIZED');
    signIn('ada');
    expect(await caller().whoami()).toBe('ada');
  });
});

describe('teamProcedure(role)', () => {
  const procedures = ['read', 'operate', 'administer', 'own'] as const;
  // Who may call what: each role may do what the roles below it may.
  const allowed: Record<Role, (typeof procedures)[number][]> = {
    viewer: ['read'],
    operator: ['read', 'operate'],
    admin: ['read', 'operate', 'administer'],
    owner: ['read', 'operate', 'administer', 'own'],
  };

  for (const [role, may] of Object.entries(allowed) as [Role, (typeof procedures)[number][]][]) {
    it(`lets a ${role} call ${may.join(', ')} and nothing more`, async () => {
      signIn('ada', { [teamA]: role });
      for (const procedure of procedures) {
        const result = await code(caller()[procedure]({ teamId: teamA }));
        expect([procedure, result]).toEqual([procedure, may.includes(procedure) ? 'OK' : 'FORBIDDEN']);
      }
      expect(await caller().read({ teamId: teamA })).toEqual({ team: teamA, role });
    });
  }

  it("answers NOT_FOUND for another team's data, whatever the caller's role in their own team", async () => {
    signIn('ada', { [teamA]: 'owner' });
    for (const procedure of procedures)
      expect(await code(caller()[procedure]({ teamId: teamB }))).toBe('NOT_FOUND');
  });

  it('refuses a team id that is not a UUID before looking anything up', async () => {
    signIn('ada', { [teamA]: 'owner' });
    expect(await code(caller().read({ teamId: 'not-a-team' }))).toBe('BAD_REQUEST');
    expect(await code(caller().read({} as { teamId: string }))).toBe('BAD_REQUEST');
  });
});
