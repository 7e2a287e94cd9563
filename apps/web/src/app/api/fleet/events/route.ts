import { z } from 'zod';
import { fleetChangeStream } from '../../../../server/agents/fleet-events';
import { sessionFrom } from '../../../../server/auth';
import { roleIn } from '../../../../server/teams/membership';

export const dynamic = 'force-dynamic';

/** GET /api/fleet/events?teamId: server-sent `change` events when the team's hosts or containers change. */
export async function GET(request: Request) {
  const session = await sessionFrom(request.headers);
  if (!session) return Response.json({ message: 'Sign in first.' }, { status: 401 });
  const teamId = z.uuid().safeParse(new URL(request.url).searchParams.get('teamId'));
  if (!teamId.success) return Response.json({ message: 'teamId must be a team id' }, { status: 400 });
  if (!(await roleIn(session.user.id, teamId.data)))
    return Response.json({ message: 'No such team.' }, { status: 404 });
  return new Response(fleetChangeStream(teamId.data, request.signal), {
    headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'x-accel-buffering': 'no' },
  });
}
