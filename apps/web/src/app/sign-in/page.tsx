import { headers } from 'next/headers';
import { redirect } from 'next/navigation';
import { sessionFrom } from '../../server/auth';
import { needsOwner } from '../../server/teams/owner';
import { SignInForm } from './sign-in-form';

export const dynamic = 'force-dynamic';

export default async function SignInPage() {
  if (await needsOwner()) redirect('/setup');
  if (await sessionFrom(await headers())) redirect('/hosts');
  return (
    <main className="mx-auto mt-24 max-w-md rounded-xl bg-white p-8 shadow">
      <h1 className="mb-6 text-2xl font-semibold">Sign in to Berth</h1>
      <SignInForm />
    </main>
  );
}
