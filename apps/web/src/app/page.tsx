import { headers } from 'next/headers';
import { redirect } from 'next/navigation';
import { sessionFrom } from '../server/auth';
import { needsOwner } from '../server/teams/owner';

export const dynamic = 'force-dynamic';

export default async function Home() {
  if (await needsOwner()) redirect('/setup');
  const session = await sessionFrom(await headers());
  redirect(session ? '/hosts' : '/sign-in');
}
