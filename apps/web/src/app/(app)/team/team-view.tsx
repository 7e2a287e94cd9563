'use client';

import { useMutation, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { useTRPC } from '../../../lib/trpc';
import { buttonClass, inputClass, useToast } from '../fleet-ui';
import { pickTeam, placeholderTeam, useCurrentTeam } from '../team-context';

const roles = ['viewer', 'operator', 'admin', 'owner'] as const;
type Role = (typeof roles)[number];

const roleHelp: Record<Role, string> = {
  viewer: 'sees everything, changes nothing',
  operator: 'runs containers and images',
  admin: 'also manages members, hosts and registries',
  owner: 'also manages owners',
};

function Invite({ teamId, myRole, onDone }: { teamId: string; myRole: Role; onDone: () => void }) {
  const trpc = useTRPC();
  const toast = useToast();
  const [link, setLink] = useState<{ url: string; expiresAt: string } | null>(null);
  const invite = useMutation(
    trpc.teams.invite.mutationOptions({
      onSuccess: (data) => {
        setLink({ url: `${window.location.origin}${data.path}`, expiresAt: data.expiresAt });
        onDone();
      },
      onError: (error) => toast(error.message, 'error'),
    }),
  );
  return (
    <form
      className="mt-4 flex flex-wrap items-end gap-3"
      data-testid="invite-form"
      onSubmit={(e) => {
        e.preventDefault();
        const form = new FormData(e.currentTarget);
        invite.mutate({
          teamId,
          role: String(form.get('role')) as Role,
          expiresInHours: Number(form.get('hours')),
        });
      }}
    >
      <label className="text-sm">
        Role
        <select name="role" defaultValue="viewer" className={`mt-1 block ${inputClass}`}>
          {roles
            .filter((r) => r !== 'owner' || myRole === 'owner')
            .map((r) => (
              <option key={r} value={r}>
                {r} — {roleHelp[r]}
              </option>
            ))}
        </select>
      </label>
      <label className="text-sm">
        Link works for
        <select name="hours" defaultValue="72" className={`mt-1 block ${inputClass}`}>
          <option value="1">1 hour</option>
          <option value="24">1 day</option>
          <option value="72">3 days</option>
          <option value="168">7 days</option>
        </select>
      </label>
      <button
        type="submit"
        disabled={invite.isPending}
        className="rounded-md bg-sky-700 px-3 py-1.5 text-sm font-medium text-white hover:bg-sky-800 disabled:opacity-50"
      >
        Create invitation link
      </button>
      {link ? (
        <div className="w-full rounded border border-slate-200 bg-white p-3 text-sm dark:border-slate-700 dark:bg-slate-900">
          <p>
            Send this link to the person you invite. It works once, until{' '}
            {new Date(link.expiresAt).toLocaleString()}, and is shown only now.
          </p>
          <input
            readOnly
            value={link.url}
            data-testid="invite-link"
            aria-label="Invitation link"
            onFocus={(e) => e.currentTarget.select()}
            className={`mt-2 block w-full font-mono ${inputClass}`}
          />
        </div>
      ) : null}
    </form>
  );
}

function NewTeam() {
  const trpc = useTRPC();
  const toast = useToast();
  const me = useQuery(trpc.me.queryOptions());
  const create = useMutation(
    trpc.teams.create.mutationOptions({
      onSuccess: async (data) => {
        await me.refetch();
        pickTeam(data.teamId);
        toast('Team created; you are its owner');
      },
      onError: (error) => toast(error.message, 'error'),
    }),
  );
  return (
    <form
      className="mt-3 flex items-end gap-3"
      data-testid="new-team-form"
      onSubmit={(e) => {
        e.preventDefault();
        create.mutate({ name: String(new FormData(e.currentTarget).get('name') ?? '') });
        e.currentTarget.reset();
      }}
    >
      <label className="text-sm">
        Name
        <input name="name" required maxLength={100} className={`mt-1 block w-56 ${inputClass}`} />
      </label>
      <button type="submit" disabled={create.isPending} className={buttonClass}>
        Create team
      </button>
    </form>
  );
}

export function TeamView() {
  const trpc = useTRPC();
  const toast = useToast();
  const { me, team, isAdmin } = useCurrentTeam();
  const teamId = team?.teamId ?? placeholderTeam;
  const members = useQuery({ ...trpc.teams.members.queryOptions({ teamId }), enabled: Boolean(team) });
  const invitations = useQuery({
    ...trpc.teams.invitations.queryOptions({ teamId }),
    enabled: Boolean(team) && isAdmin,
  });
  const refresh = () => {
    void members.refetch();
    void invitations.refetch();
    void me.refetch();
  };
  const handlers = (done: string) => ({
    onSuccess: () => {
      toast(done);
      refresh();
    },
    onError: (error: { message: string }) => toast(error.message, 'error'),
  });
  const setRole = useMutation(trpc.teams.setRole.mutationOptions(handlers('Role changed')));
  const remove = useMutation(trpc.teams.removeMember.mutationOptions(handlers('Member removed')));
  const withdraw = useMutation(
    trpc.teams.withdrawInvitation.mutationOptions(handlers('Invitation withdrawn')),
  );
  const leave = useMutation(trpc.teams.leave.mutationOptions(handlers('You left the team')));
  if (me.isPending) return <p className="text-slate-500">Loading…</p>;
  if (!team) return <p>You are not a member of any team yet.</p>;
  const myRole = team.role as Role;
  const myId = me.data?.user.id;
  return (
    <section>
      <h1 className="text-2xl font-semibold">Team {team.teamName}</h1>
      <p className="mt-1 text-sm text-slate-600 dark:text-slate-400">Your role: {myRole}</p>

      <h2 className="mt-6 text-lg font-semibold">Members</h2>
      {members.error ? (
        <p role="alert" className="text-red-700">
          {members.error.message}
        </p>
      ) : null}
      <table className="mt-2 w-full border-collapse text-left text-sm" data-testid="members-table">
        <thead>
          <tr className="border-b border-slate-200 text-slate-500 dark:border-slate-700 dark:text-slate-400">
            <th className="py-2 pr-3">Name</th>
            <th className="py-2 pr-3">Email</th>
            <th className="py-2 pr-3">Role</th>
            <th className="py-2 pr-3">Joined</th>
            {isAdmin ? <th className="py-2">Actions</th> : null}
          </tr>
        </thead>
        <tbody>
          {(members.data ?? []).map((m) => {
            // Admins manage members below owner; owners manage everyone (the server checks the same).
            const manageable = isAdmin && (myRole === 'owner' || m.role !== 'owner');
            return (
              <tr
                key={m.userId}
                className="border-b border-slate-100 dark:border-slate-800"
                data-testid={`member-${m.email}`}
              >
                <td className="py-1.5 pr-3">
                  {m.name}
                  {m.userId === myId ? ' (you)' : ''}
                </td>
                <td className="py-1.5 pr-3">{m.email}</td>
                <td className="py-1.5 pr-3">
                  {manageable ? (
                    <select
                      aria-label={`Role of ${m.email}`}
                      value={m.role}
                      disabled={setRole.isPending}
                      onChange={(e) =>
                        setRole.mutate({
                          teamId: team.teamId,
                          userId: m.userId,
                          role: e.target.value as Role,
                        })
                      }
                      className={inputClass}
                    >
                      {roles
                        .filter((r) => r !== 'owner' || myRole === 'owner')
                        .map((r) => (
                          <option key={r} value={r}>
                            {r}
                          </option>
                        ))}
                    </select>
                  ) : (
                    <span data-testid="member-role">{m.role}</span>
                  )}
                </td>
                <td className="py-1.5 pr-3">{new Date(m.joinedAt).toLocaleDateString()}</td>
                {isAdmin ? (
                  <td className="py-1.5">
                    {manageable && m.userId !== myId ? (
                      <button
                        type="button"
                        className={buttonClass}
                        disabled={remove.isPending}
                        onClick={() => {
                          if (window.confirm(`Remove ${m.email} from ${team.teamName}?`))
                            remove.mutate({ teamId: team.teamId, userId: m.userId });
                        }}
                      >
                        Remove
                      </button>
                    ) : null}
                  </td>
                ) : null}
              </tr>
            );
          })}
        </tbody>
      </table>

      {isAdmin ? (
        <>
          <h2 className="mt-8 text-lg font-semibold">Invite someone</h2>
          {/* Keyed by team: a link made for the team picked before must not stay on screen under this one. */}
          <Invite
            key={team.teamId}
            teamId={team.teamId}
            myRole={myRole}
            onDone={() => void invitations.refetch()}
          />
          {invitations.data?.length ? (
            <>
              <h3 className="mt-6 font-medium">Pending invitations</h3>
              <ul className="mt-2 space-y-1 text-sm" data-testid="pending-invitations">
                {invitations.data.map((i) => (
                  <li key={i.id} className="flex items-center gap-3">
                    <span>
                      {i.role}, made {new Date(i.createdAt).toLocaleString()},{' '}
                      {i.expired ? 'expired' : `valid until ${new Date(i.expiresAt).toLocaleString()}`}
                    </span>
                    <button
                      type="button"
                      className={buttonClass}
                      onClick={() => withdraw.mutate({ teamId: team.teamId, invitationId: i.id })}
                    >
                      Withdraw
                    </button>
                  </li>
                ))}
              </ul>
            </>
          ) : null}
        </>
      ) : null}

      <h2 className="mt-8 text-lg font-semibold">Another team</h2>
      <p className="text-sm text-slate-600 dark:text-slate-400">
        Teams keep their hosts, registries and audit log apart. You become the owner of a team you create;
        switch teams in the header.
      </p>
      <NewTeam />

      <div className="mt-8">
        <button
          type="button"
          className={buttonClass}
          onClick={() => {
            if (window.confirm(`Leave ${team.teamName}?`)) leave.mutate({ teamId: team.teamId });
          }}
        >
          Leave this team
        </button>
      </div>
    </section>
  );
}
