import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { sessionFrom } from '../../../../server/auth';
import { uploadBuildContext } from '../../../../server/images/build';
import { BUILD_CONTEXT_MAX_BYTES, buildContextQuery } from '../../../../server/images/build-schemas';
import { roleIn } from '../../../../server/teams/membership';
import { hasRole } from '../../../../server/teams/roles';

export const dynamic = 'force-dynamic';

/**
 * POST /api/images/build-context?teamId&hostId with a tar (or tar.gz) as the body: streamed to the host's
 * agent as it arrives and kept there for the build that names the answer's `uploadId` (operators and up).
 */
export async function POST(request: Request) {
  const session = await sessionFrom(request.headers);
  if (!session) return Response.json({ message: 'Sign in first.' }, { status: 401 });
  const url = new URL(request.url);
  const parsed = buildContextQuery.safeParse(Object.fromEntries(url.searchParams));
  if (!parsed.success)
    return Response.json({ message: parsed.error.issues[0]?.message ?? 'bad request' }, { status: 400 });
  const role = await roleIn(session.user.id, parsed.data.teamId);
  if (!role) return Response.json({ message: 'No such team.' }, { status: 404 });
  if (!hasRole(role, 'operator'))
    return Response.json({ message: 'Building images needs the operator role.' }, { status: 403 });
  const length = request.headers.get('content-length');
  const declared = length && /^\d+$/.test(length) ? Number(length) : null;
  if (declared !== null && declared > BUILD_CONTEXT_MAX_BYTES)
    return Response.json(
      { message: `The build context is over ${BUILD_CONTEXT_MAX_BYTES / 1024 / 1024} MiB.` },
      { status: 413 },
    );
  const body = request.body ? Readable.fromWeb(request.body as NodeReadableStream<Uint8Array>) : null;
  try {
    return Response.json(await uploadBuildContext(parsed.data, body, declared));
  } catch (error) {
    const e = error as Error & { code?: string };
    switch (e.name) {
      case 'BuildContextTooLargeError':
        return Response.json({ message: e.message }, { status: 413 });
      case 'HostNotFoundError':
        return Response.json({ message: 'No such host in this team.' }, { status: 404 });
      case 'AgentUnavailableError':
        return Response.json({ message: 'The host is offline.' }, { status: 409 });
      case 'AgentCommandError':
        return Response.json({ message: e.message }, { status: e.code === 'too_large' ? 413 : 400 });
      default:
        return Response.json({ message: 'Could not upload the build context.' }, { status: 500 });
    }
  } finally {
    body?.destroy();
  }
}
