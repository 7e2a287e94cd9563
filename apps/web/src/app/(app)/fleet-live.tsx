'use client';

import { useQueryClient } from '@tanstack/react-query';
import { useEffect } from 'react';
import { useCurrentTeam } from './team-context';

/** Refetches what the page shows as soon as the team's fleet changes (pages still poll as a fallback). */
export function FleetLive() {
  const { team } = useCurrentTeam();
  const queryClient = useQueryClient();
  const teamId = team?.teamId;
  useEffect(() => {
    if (!teamId) return;
    const source = new EventSource(`/api/fleet/events?${new URLSearchParams({ teamId })}`);
    source.addEventListener('change', () => void queryClient.invalidateQueries());
    return () => source.close();
  }, [teamId, queryClient]);
  return null;
}
