'use client';

import { useRouter } from 'next/navigation';
import { authClient } from '../../lib/auth-client';

export function SignOutButton() {
  const router = useRouter();
  return (
    <>
      <SignOutEverywhereButton />
      <button
        type="button"
        onClick={async () => {
          await authClient.signOut();
          router.replace('/sign-in');
        }}
        className="rounded-md border border-slate-300 px-3 py-1 text-sm hover:bg-slate-100"
      >
        Sign out
      </button>
    </>
  );
}

/** Ends every session of this account (other browsers and devices included), then this one's page. */
function SignOutEverywhereButton() {
  const router = useRouter();
  return (
    <button
      type="button"
      title="End the sessions of this account on every browser and device"
      onClick={async () => {
        await authClient.revokeSessions();
        await authClient.signOut().catch(() => {});
        router.replace('/sign-in');
      }}
      className="rounded-md px-2 py-1 text-sm text-slate-600 hover:bg-slate-100 dark:text-slate-300 dark:hover:bg-slate-800"
    >
      Sign out everywhere
    </button>
  );
}
