import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { agentBundleDir, bundleManifest } from '../../../../../../server/ssh-install/bundle';

export const dynamic = 'force-dynamic';

const files: Record<string, string> = {
  'berth-agent.mjs': 'text/javascript; charset=utf-8',
  'berth-agent.mjs.sha256': 'text/plain; charset=utf-8',
  'manifest.json': 'application/json',
};

/**
 * The agent bundle at a versioned URL (/api/agent/bundle/<version>/berth-agent.mjs, .sha256, manifest.json):
 * only the version this control plane was built with is served, so a URL never changes its content. Public
 * like the enrolment endpoint: the bundle holds no secret, and a host needs it before it has any identity.
 */
export async function GET(
  _request: Request,
  context: { params: Promise<{ version: string; file: string }> },
) {
  const { version, file } = await context.params;
  const type = files[file];
  const dir = agentBundleDir();
  const manifest = await bundleManifest(dir);
  if (!manifest)
    return Response.json({ message: 'the agent bundle is not built (npm run build)' }, { status: 404 });
  // Agents ask for the latest manifest to learn whether to update (apps/agent/src/upgrade); only that is moving.
  if (version === 'latest' && file === 'manifest.json')
    return Response.json(manifest, { headers: { 'cache-control': 'no-store' } });
  if (!type || version !== manifest.version)
    return Response.json({ message: `this control plane serves agent ${manifest.version}` }, { status: 404 });
  const body = await readFile(join(dir, file));
  return new Response(body, {
    headers: {
      'content-type': type,
      'cache-control': 'public, max-age=31536000, immutable',
      'x-berth-agent-sha256': manifest.sha256,
    },
  });
}
