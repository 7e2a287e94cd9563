import { sessionFrom } from '../../../server/auth';
import { containerLogStream } from '../../../server/containers/logs';
import { logsInput, logsQuery } from '../../../server/containers/schemas';
import { roleIn } from '../../../server/teams/membership';

export const dynamic = 'force-dynamic';

/**
 * GET /api/logs?teamId&(hostId&containerId | c=hostId:containerId… | label=key=value…)[&tail][&since]: server-sent
 * events: `sources`, then `line`s (merged by time), `source-end` per container, `end`.
 */
export async function GET(request: Request) {
  const session = await sessionFrom(request.headers);
  if (!session) return Response.json({ message: 'Sign in first.' }, { status: 401 });
  const parsed = logsInput.safeParse(logsQuery(new URL(request.url).searchParams));
  if (!parsed.success)
    return Response.json({ message: parsed.error.issues[0]?.message ?? 'bad request' }, { status: 400 });
  if (!(await roleIn(session.user.id, parsed.data.teamId)))
    return Response.json({ message: 'No such team.' }, { status: 404 });
  try {
    const stream = await containerLogStream(parsed.data, request.signal);
    return new Response(stream, {
      headers: {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
      },
    });
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'HostNotFoundError')
      return Response.json({ message: 'No such container in this team.' }, { status: 404 });
    if (name === 'AgentUnavailableError')
      return Response.json({ message: 'The host is offline.' }, { status: 409 });
    return Response.json({ message: 'Could not open the logs.' }, { status: 500 });
  }
}
