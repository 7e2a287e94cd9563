'use client';

import { useActionState } from 'react';
import { createOwnerAction, type SetupState } from './actions';

const field =
  'mt-1 block w-full rounded-md border border-slate-300 px-3 py-2 focus:border-sky-600 focus:outline-none';

export function SetupForm() {
  const [state, action, pending] = useActionState<SetupState, FormData>(createOwnerAction, {});
  return (
    <form action={action} className="space-y-4">
      <label className="block text-sm font-medium">
        Your name
        <input name="name" required autoComplete="name" defaultValue={state.values?.name} className={field} />
      </label>
      <label className="block text-sm font-medium">
        Email
        <input
          name="email"
          type="email"
          required
          autoComplete="email"
          defaultValue={state.values?.email}
          className={field}
        />
      </label>
      <label className="block text-sm font-medium">
        Password (10 characters or more)
        <input
          name="password"
          type="password"
          required
          minLength={10}
          autoComplete="new-password"
          className={field}
        />
      </label>
      <label className="block text-sm font-medium">
        Team name
        <input
          name="teamName"
          required
          defaultValue={state.values?.teamName ?? 'Operations'}
          className={field}
        />
      </label>
      {state.error ? (
        <p role="alert" data-testid="form-error" className="text-sm text-red-700">
          {state.error}
        </p>
      ) : null}
      <button
        type="submit"
        disabled={pending}
        className="w-full rounded-md bg-sky-700 px-4 py-2 font-medium text-white hover:bg-sky-800 disabled:opacity-50"
      >
        {pending ? 'Creating…' : 'Create the owner account'}
      </button>
    </form>
  );
}
