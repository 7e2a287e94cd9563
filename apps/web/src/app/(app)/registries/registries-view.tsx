'use client';

import { useMutation, useQuery } from '@tanstack/react-query';
import { useTRPC } from '../../../lib/trpc';
import { placeholderTeam, useCurrentTeam } from '../team-context';

const field = 'mt-1 block w-full rounded border border-slate-300 px-2 py-1 text-sm';

export function RegistriesView() {
  const trpc = useTRPC();
  // The team picked in the header's switcher (the first one unless another was picked).
  const { me, team } = useCurrentTeam();
  const registries = useQuery({
    ...trpc.registries.list.queryOptions({ teamId: team?.teamId ?? placeholderTeam }),
    enabled: Boolean(team),
  });
  const save = useMutation(
    trpc.registries.save.mutationOptions({ onSuccess: () => void registries.refetch() }),
  );
  const remove = useMutation(
    trpc.registries.remove.mutationOptions({ onSuccess: () => void registries.refetch() }),
  );
  if (me.isPending) return <p className="text-slate-500">Loading…</p>;
  if (!team) return <p>You are not a member of any team yet.</p>;
  const isAdmin = team.role === 'owner' || team.role === 'admin';
  return (
    <section>
      <h1 className="text-2xl font-semibold">Registries</h1>
      <p className="mt-1 text-sm text-slate-600">
        Credentials the team shares for pulling images. Passwords are stored encrypted and are never shown
        again.
      </p>
      <table className="mt-4 w-full border-collapse text-left text-sm" data-testid="registries-table">
        <thead>
          <tr className="border-b border-slate-200 text-slate-500">
            <th className="py-1">Registry</th>
            <th className="py-1">User</th>
            <th className="py-1">Updated</th>
            <th className="py-1" />
          </tr>
        </thead>
        <tbody>
          {registries.data?.map((r) => (
            <tr key={r.id} className="border-b border-slate-100">
              <td className="py-1 font-mono">{r.serverAddress}</td>
              <td className="py-1">{r.username}</td>
              <td className="py-1">{new Date(r.updatedAt).toLocaleString()}</td>
              <td className="py-1">
                {isAdmin ? (
                  <button
                    type="button"
                    onClick={() => remove.mutate({ teamId: team.teamId, id: r.id })}
                    className="rounded border border-slate-300 px-2 py-0.5 text-xs hover:bg-slate-100"
                  >
                    Remove
                  </button>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {registries.data?.length === 0 ? (
        <p className="mt-3 text-sm text-slate-500">No registry credentials yet.</p>
      ) : null}
      {isAdmin ? (
        <form
          className="mt-6 grid max-w-xl grid-cols-3 gap-3"
          data-testid="registry-form"
          onSubmit={(event) => {
            event.preventDefault();
            const form = new FormData(event.currentTarget);
            save.mutate(
              {
                teamId: team.teamId,
                serverAddress: String(form.get('serverAddress') ?? ''),
                username: String(form.get('username') ?? ''),
                password: String(form.get('password') ?? ''),
              },
              { onSuccess: () => (event.target as HTMLFormElement).reset() },
            );
          }}
        >
          <label className="text-sm">
            Registry
            <input name="serverAddress" required placeholder="registry.example.com" className={field} />
          </label>
          <label className="text-sm">
            User
            <input name="username" required autoComplete="off" className={field} />
          </label>
          <label className="text-sm">
            Password or token
            <input name="password" type="password" required autoComplete="new-password" className={field} />
          </label>
          <div className="col-span-3 flex items-center gap-3">
            <button
              type="submit"
              disabled={save.isPending}
              className="rounded bg-sky-700 px-3 py-1 text-sm font-medium text-white hover:bg-sky-800 disabled:opacity-50"
            >
              Save credentials
            </button>
            {save.error ? (
              <span role="alert" className="text-sm text-red-700">
                {save.error.message}
              </span>
            ) : null}
          </div>
        </form>
      ) : null}
    </section>
  );
}
