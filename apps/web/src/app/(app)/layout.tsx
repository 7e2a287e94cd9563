import { headers } from 'next/headers';
import { redirect } from 'next/navigation';
import type { ReactNode } from 'react';
import { Providers } from '../../lib/trpc';
import { sessionFrom } from '../../server/auth';
import { FleetLive } from './fleet-live';
import { Toasts } from './fleet-ui';
import { NavLinks } from './nav-links';
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
        <FleetLive />
        <div className="flex min-h-screen">
          <aside className="w-52 shrink-0 border-r border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-900">
            <div className="px-5 py-4 text-lg font-semibold">Berth</div>
            <nav aria-label="Main" className="flex flex-col gap-0.5 px-2">
              <NavLinks links={links} />
            </nav>
          </aside>
          <div className="min-w-0 flex-1">
            <header className="border-b border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-900">
              <div className="flex items-center gap-4 px-6 py-3">
                <span className="ml-auto" />
                <TeamSwitcher />
                <span className="text-sm text-slate-600 dark:text-slate-400" data-testid="signed-in-as">
                  {session.user.email}
                </span>
                <SignOutButton />
              </div>
            </header>
            <main className="mx-auto max-w-6xl px-6 py-8">{children}</main>
          </div>
        </div>
      </Toasts>
    </Providers>
  );
}
