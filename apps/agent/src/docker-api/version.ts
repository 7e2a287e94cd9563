/**
 * API versions this server speaks. The docker CLI 28 negotiates down to the server's `Api-Version` (from
 * `/_ping`); 1.41 is what Debian's dockerd 20.10 reports, so the CLI takes exactly the code paths it takes
 * against the reference daemon and the differential tests compare like with like.
 */
export const API_VERSION = '1.41';
export const MIN_API_VERSION = '1.12';
export const BERTH_VERSION = '0.1.0';

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}
