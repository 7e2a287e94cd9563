'use client';

import { useMutation, useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useState } from 'react';
import { authClient } from '../../../lib/auth-client';
import { useTRPC } from '../../../lib/trpc';
import { pickTeam } from '../../(app)/team-context';

const field =
  'mt-1 block w-full rounded-md border border-slate-300 bg-white px-3 py-2 focus:border-sky-600 focus:outline-none dark:border-slate-600 dark:bg-slate-800';

const stateText = {
  expired: 'This invitation has expired. Ask an admin of the team for a new link.',
  used: 'This invitation was already used.',
  withdrawn: 'This invitation was withdrawn.',
  unknown: 'This invitation link is not valid.',
} as const;

/** An invitation link: a newcomer makes an account with it; someone signed in joins with one click. */
export function InviteView({ token }: { token: string }) {
  const trpc = useTRPC();
  const router = useRouter();
  const session = authClient.useSession();
  const valid = /^[A-Za-z0-9_-]{43}$/.test(token);
  const peek = useQuery({ ...trpc.invitations.peek.queryOptions({ token }), enabled: valid, retry: false });
  const [error, setError] = useState<string | null>(null);
  const joined = (teamId: string) => {
    pickTeam(teamId);
    router.replace('/hosts');
  };
  const accept = useMutation(
    trpc.invitations.accept.mutationOptions({
      onSuccess: (data) => joined(data.teamId),
      onError: (e) => setError(e.message),
    }),
  );
  const signUp = useMutation(trpc.invitations.signUp.mutationOptions());

  if (!valid) return <p role="alert">{stateText.unknown}</p>;
  if (peek.isPending || session.isPending) return <p className="text-slate-500">Loading…</p>;
  if (peek.error) return <p role="alert">{peek.error.message}</p>;
  const invitation = peek.data;
  if (invitation.state !== 'valid')
    return (
      <p role="alert" data-testid="invite-state">
        {stateText[invitation.state]}
      </p>
    );
  return (
    <section>
      <h1 className="text-2xl font-semibold">Join {invitation.teamName}</h1>
      <p className="mt-2 text-sm text-slate-600 dark:text-slate-400">
        You are invited as <strong>{invitation.role}</strong>.
      </p>
      {session.data ? (
        <div className="mt-6">
          <p className="text-sm">Signed in as {session.data.user.email}.</p>
          <button
            type="button"
            disabled={accept.isPending}
            onClick={() => accept.mutate({ token })}
            className="mt-3 w-full rounded-md bg-sky-700 px-4 py-2 font-medium text-white hover:bg-sky-800 disabled:opacity-50"
          >
            Join {invitation.teamName}
          </button>
        </div>
      ) : (
        <form
          className="mt-6 space-y-4"
          data-testid="invite-signup"
          onSubmit={async (e) => {
            e.preventDefault();
            setError(null);
            const form = new FormData(e.currentTarget);
            const email = String(form.get('email') ?? '');
            const password = String(form.get('password') ?? '');
            try {
              const result = await signUp.mutateAsync({
                token,
                name: String(form.get('name') ?? ''),
                email,
                password,
              });
              const signedIn = await authClient.signIn.email({ email, password });
              if (signedIn.error) throw new Error(signedIn.error.message ?? 'Sign-in failed.');
              joined(result.teamId);
            } catch (caught) {
              setError((caught as Error).message);
            }
          }}
        >
          <label className="block text-sm font-medium">
            Your name
            <input name="name" required autoComplete="name" className={field} />
          </label>
          <label className="block text-sm font-medium">
            Email
            <input name="email" type="email" required autoComplete="email" className={field} />
          </label>
          <label className="block text-sm font-medium">
            Password (at least 10 characters)
            <input
              name="password"
              type="password"
              required
              minLength={10}
              autoComplete="new-password"
              className={field}
            />
          </label>
          <button
            type="submit"
            disabled={signUp.isPending}
            className="w-full rounded-md bg-sky-700 px-4 py-2 font-medium text-white hover:bg-sky-800 disabled:opacity-50"
          >
            Create account and join
          </button>
          <p className="text-sm text-slate-600 dark:text-slate-400">
            Already have an account?{' '}
            <Link href="/sign-in" className="underline">
              Sign in
            </Link>
            , then open this link again.
          </p>
        </form>
      )}
      {error ? (
        <p role="alert" data-testid="form-error" className="mt-4 text-sm text-red-700">
          {error}
        </p>
      ) : null}
    </section>
  );
}
