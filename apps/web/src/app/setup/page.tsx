import { redirect } from 'next/navigation';
import { needsOwner } from '../../server/teams/owner';
import { SetupForm } from './setup-form';

export const dynamic = 'force-dynamic';

export default async function SetupPage() {
  if (!(await needsOwner())) redirect('/sign-in');
  return (
    <main className="mx-auto mt-24 max-w-md rounded-xl bg-white p-8 shadow">
      <h1 className="text-2xl font-semibold">Create the owner account</h1>
      <p className="mt-2 mb-6 text-sm text-slate-600">
        This is a new Berth control plane. The first account owns it and its first team.
      </p>
      <SetupForm />
    </main>
  );
}
