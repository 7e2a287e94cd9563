import { headers } from 'next/headers';
import Link from 'next/link';
import { redirect } from 'next/navigation';
import type { ReactNode } from 'react';
import { Providers } from '../../lib/trpc';
import { sessionFrom } from '../../server/auth';
import { Toasts } from './fleet-ui';
import { SignOutButton } from './sign-out-button';
import { TeamSwitcher } from './team-context';

const links = [
  ['/hosts', 'Hosts'],
  ['/containers', 'Containers'],
  ['/images', 'Images'],
  ['/registries', 'Registries'],
  ['/team', 'Team'],
  ['/operations', 'Operations'],
  ['/audit', 'Audit'],
] as const;

export const dynamic = 'force-dynamic';

export default async function SignedInLayout({ children }: { children: ReactNode }) {
  const session = await sessionFrom(await headers());
  if (!session) redirect('/sign-in');
  return (
    <Providers>
      <Toasts>
        <header className="border-b border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-900">
          <nav className="mx-auto flex max-w-6xl items-center gap-6 px-6 py-3">
            <span className="text-lg font-semibold">Berth</span>
            {links.map(([href, label]) => (
              <Link
                key={href}
                href={href}
                className="text-sm text-slate-700 hover:text-slate-950 dark:text-slate-300 dark:hover:text-white"
              >
                {label}
              </Link>
            ))}
            <span className="ml-auto" />
            <TeamSwitcher />
            <span className="text-sm text-slate-600 dark:text-slate-400" data-testid="signed-in-as">
              {session.user.email}
            </span>
            <SignOutButton />
          </nav>
        </header>
        <main className="mx-auto max-w-6xl px-6 py-8">{children}</main>
      </Toasts>
    </Providers>
  );
}
