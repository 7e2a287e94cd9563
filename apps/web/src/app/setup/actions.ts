'use server';

import { headers } from 'next/headers';
import { redirect } from 'next/navigation';
import { createOwner, OwnerExistsError } from '../../server/teams/owner';
import { ownerInput } from '../../server/teams/schemas';

export interface SetupState {
  error?: string;
  /** What was typed (never the password), so a refused form comes back filled in. */
  values?: { name: string; email: string; teamName: string };
}

export async function createOwnerAction(_previous: SetupState, form: FormData): Promise<SetupState> {
  const values = {
    name: String(form.get('name') ?? ''),
    email: String(form.get('email') ?? ''),
    teamName: String(form.get('teamName') ?? ''),
  };
  const parsed = ownerInput.safeParse({
    name: form.get('name'),
    email: form.get('email'),
    password: form.get('password'),
    teamName: form.get('teamName'),
  });
  if (!parsed.success) return { error: parsed.error.issues[0]?.message ?? 'Check the form.', values };
  try {
    await createOwner(parsed.data, await headers());
  } catch (error) {
    if (error instanceof OwnerExistsError) return { error: error.message, values };
    return { error: 'The account could not be created. Try again.', values };
  }
  redirect('/hosts');
}
