import { headers } from 'next/headers';
import Link from 'next/link';
import { redirect } from 'next/navigation';
import type { ReactNode } from 'react';
import { Providers } from '../../lib/trpc';
import { sessionFrom } from '../../server/auth';
import { SignOutButton } from './sign-out-button';

export const dynamic = 'force-dynamic';

export default async function SignedInLayout({ children }: { children: ReactNode }) {
  const session = await sessionFrom(await headers());
  if (!session) redirect('/sign-in');
  return (
    <Providers>
      <header className="border-b border-slate-200 bg-white">
        <nav className="mx-auto flex max-w-5xl items-center gap-6 px-6 py-3">
          <span className="text-lg font-semibold">Berth</span>
          <Link href="/hosts" className="text-sm text-slate-700 hover:text-slate-950">
            Hosts
          </Link>
          <Link href="/registries" className="text-sm text-slate-700 hover:text-slate-950">
            Registries
          </Link>
          <Link href="/audit" className="text-sm text-slate-700 hover:text-slate-950">
            Audit
          </Link>
          <span className="ml-auto text-sm text-slate-600" data-testid="signed-in-as">
            {session.user.email}
          </span>
          <SignOutButton />
        </nav>
      </header>
      <main className="mx-auto max-w-5xl px-6 py-8">{children}</main>
    </Providers>
  );
}
