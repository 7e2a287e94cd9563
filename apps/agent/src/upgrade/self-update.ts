/**
 * The bundled agent keeps itself at the control plane's bundle: it reads /api/agent/bundle/latest/manifest.json
 * now and then, and when the sha256 there is not its own file's, downloads that version, checks its sha256,
 * makes sure it starts (`check --json` must print a report), and renames it over its own file. The control
 * plane is the source of truth, so a control plane rolled back rolls its agents back too. Restarting is the
 * caller's: the agent closes its services (containers keep running; conmon outlives it) and is started again
 * on the new file (see main.ts).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { z } from 'zod';

const manifestSchema = z.object({
  version: z.string().regex(/^[0-9A-Za-z.+-]+$/),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

export type UpdateResult =
  | { kind: 'current' }
  | { kind: 'updated'; from: string; to: string; version: string }
  | { kind: 'failed'; reason: string };

export async function fileSha256(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

function runsAsAgent(path: string): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path, 'check', '--json'], { timeout: 30_000 }, (_error, stdout) => {
      // A missing prerequisite exits 1 yet still proves the bundle loads; only a report counts.
      try {
        const report = JSON.parse(stdout) as { items?: unknown };
        resolve(Array.isArray(report.items) ? null : 'it printed no prerequisite report');
      } catch {
        resolve(`it did not start: ${stdout.slice(0, 200)}`);
      }
    });
  });
}

/** One check; replaces `bundlePath` only with a verified bundle that runs. Never throws. */
export async function updateBundle(controlPlane: string, bundlePath: string): Promise<UpdateResult> {
  const staged = `${bundlePath}.${process.pid}.new.mjs`;
  try {
    const response = await fetch(new URL('/api/agent/bundle/latest/manifest.json', controlPlane), {
      signal: AbortSignal.timeout(30_000),
    });
    if (!response.ok) return { kind: 'failed', reason: `manifest: HTTP ${response.status}` };
    const manifest = manifestSchema.parse(await response.json());
    const own = await fileSha256(bundlePath);
    if (own === manifest.sha256) return { kind: 'current' };
    const download = await fetch(
      new URL(`/api/agent/bundle/${manifest.version}/berth-agent.mjs`, controlPlane),
      { signal: AbortSignal.timeout(120_000) },
    );
    if (!download.ok) return { kind: 'failed', reason: `bundle: HTTP ${download.status}` };
    const bytes = Buffer.from(await download.arrayBuffer());
    const got = createHash('sha256').update(bytes).digest('hex');
    if (got !== manifest.sha256)
      return {
        kind: 'failed',
        reason: `the download's sha256 ${got} is not the manifest's ${manifest.sha256}`,
      };
    await writeFile(staged, bytes, { mode: 0o644 });
    const broken = await runsAsAgent(staged);
    if (broken) return { kind: 'failed', reason: `the new bundle is unusable: ${broken}` };
    await rename(staged, bundlePath);
    return { kind: 'updated', from: own, to: got, version: manifest.version };
  } catch (error) {
    return { kind: 'failed', reason: (error as Error).message };
  } finally {
    await rm(staged, { force: true });
  }
}
