import { env } from '../../../../env';
import { bundleManifest } from '../../../../server/ssh-install/bundle';
import { installScript } from '../../../../server/ssh-install/install-script';

export const dynamic = 'force-dynamic';

/** The one-line installer's script (see install-script.ts); it carries the bundle's checksum. */
export async function GET() {
  const manifest = await bundleManifest();
  if (!manifest)
    return new Response(
      'echo "the control plane has no agent bundle: run npm run build there" >&2; exit 1\n',
      {
        status: 404,
        headers: { 'content-type': 'text/x-shellscript; charset=utf-8' },
      },
    );
  return new Response(installScript(env().BERTH_PUBLIC_URL, manifest), {
    headers: { 'content-type': 'text/x-shellscript; charset=utf-8', 'cache-control': 'no-store' },
  });
}
