'use client';

import { useQuery } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { useTRPC } from '../../lib/trpc';

/** A team id no team has: queries need an input before `me` has loaded, and are disabled until then. */
export const placeholderTeam = '00000000-0000-4000-8000-000000000000';

const storageKey = 'berth.team';
const changed = 'berth:team-changed';

/** The team the pages show: the one picked in the switcher (kept in this browser), else the first. */
export function useCurrentTeam() {
  const trpc = useTRPC();
  const me = useQuery(trpc.me.queryOptions());
  const [picked, setPicked] = useState<string | null>(null);
  useEffect(() => {
    const read = () => setPicked(window.localStorage.getItem(storageKey));
    read();
    window.addEventListener(changed, read);
    return () => window.removeEventListener(changed, read);
  }, []);
  const teams = me.data?.teams ?? [];
  const team = teams.find((t) => t.teamId === picked) ?? teams[0];
  const role = team?.role;
  return {
    me,
    teams,
    team,
    canOperate: role === 'owner' || role === 'admin' || role === 'operator',
    isAdmin: role === 'owner' || role === 'admin',
  };
}

export function pickTeam(teamId: string): void {
  window.localStorage.setItem(storageKey, teamId);
  window.dispatchEvent(new Event(changed));
}

export function TeamSwitcher() {
  const { teams, team } = useCurrentTeam();
  if (teams.length < 2 || !team) return null;
  return (
    <label className="text-sm text-slate-600 dark:text-slate-300">
      <span className="sr-only">Team</span>
      <select
        value={team.teamId}
        onChange={(event) => pickTeam(event.target.value)}
        data-testid="team-switcher"
        className="rounded border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-600 dark:bg-slate-800"
      >
        {teams.map((t) => (
          <option key={t.teamId} value={t.teamId}>
            {t.teamName}
          </option>
        ))}
      </select>
    </label>
  );
}
