/** Where the control plane finds the agent bundle built by `npm run build` (apps/agent/dist). */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';

const manifestSchema = z.object({
  version: z.string().regex(/^[0-9A-Za-z.+-]+$/),
  file: z.literal('berth-agent.mjs'),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().positive(),
  node: z.string(),
});
export type BundleManifest = z.infer<typeof manifestSchema>;

export function agentBundleDir(): string {
  const configured = process.env.BERTH_AGENT_BUNDLE_DIR;
  if (configured) return resolve(configured);
  // The server runs from the repository root (tests) or from apps/web (npm start, next start).
  const candidates = [resolve('apps/agent/dist'), resolve('../agent/dist')];
  return candidates.find((dir) => existsSync(join(dir, 'manifest.json'))) ?? (candidates[0] as string);
}

/** The built bundle's manifest, or null when `npm run build` has not made one. */
export async function bundleManifest(dir = agentBundleDir()): Promise<BundleManifest | null> {
  try {
    return manifestSchema.parse(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')));
  } catch {
    return null;
  }
}
