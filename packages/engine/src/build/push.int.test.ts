/**
 * A built image pushed to the real Debian registry: its plain-tar layers arrive gzipped (the media type says
 * so, the blob is gzip and unzips to the config's diff_id), a second push only finds them (HEAD hits, nothing
 * compressed or uploaded), and the image pulled back from the registry runs.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../engine';
import { mediaTypes } from '../images/oci';
import type { PullProgress } from '../images/types';
import { imageOutput } from '../testing/containers';
import { loadBusybox } from '../testing/images';
import { testNetworkOptions } from '../testing/network';
import { type StartedRegistry, startRegistry } from '../testing/registry';

const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

describe('push of built images', () => {
  let root: string;
  let engine: Engine;
  let registry: StartedRegistry;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'bt-pushgz-'));
    engine = await Engine.open({ dataRoot: join(root, 'data'), ...testNetworkOptions() });
    await loadBusybox(engine);
    registry = await startRegistry();
  });
  afterAll(async () => {
    await engine?.close();
    await registry?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('sends gzip layers once, keeps the diff_ids, and the pulled image runs', async () => {
    const ctx = await mkdtemp(join(root, 'ctx-'));
    await writeFile(join(ctx, 'note.txt'), 'a note from the context\n'.repeat(200));
    await writeFile(
      join(ctx, 'Dockerfile'),
      'FROM busybox\nCOPY note.txt /note.txt\nRUN echo built-and-pushed > /built\nCMD ["cat", "/built"]\n',
    );
    const tag = `${registry.host}/bt-push/gz:1`;
    const built = await engine.builder.build({ context: ctx, tags: [tag], network: 'none' });
    const local = await engine.images.inspect(built.id);
    const [copyDiff, runDiff] = local.RootFS.Layers.slice(-2);

    const first: PullProgress[] = [];
    const pushed = await engine.images.push(tag, { onProgress: (p) => first.push(p) });
    expect(first.filter((p) => p.status === 'Pushed').length).toBeGreaterThanOrEqual(2);

    const manifest = (await (
      await fetch(`${registry.url}/v2/bt-push/gz/manifests/1`, {
        headers: { accept: mediaTypes.ociManifest },
      })
    ).json()) as {
      layers: Array<{ mediaType: string; digest: string; size: number }>;
      config: { digest: string };
    };
    const config = (await (
      await fetch(`${registry.url}/v2/bt-push/gz/blobs/${manifest.config.digest}`)
    ).json()) as {
      rootfs: { diff_ids: string[] };
    };
    expect(config.rootfs.diff_ids).toEqual(local.RootFS.Layers);
    expect(manifest.config.digest).toBe(built.id);
    for (const [i, layer] of manifest.layers.entries()) {
      const blob = Buffer.from(
        await (await fetch(`${registry.url}/v2/bt-push/gz/blobs/${layer.digest}`)).arrayBuffer(),
      );
      expect(sha256(blob)).toBe(layer.digest);
      expect(blob.length).toBe(layer.size);
      if (layer.mediaType !== mediaTypes.ociLayerGzip) continue;
      expect([blob[0], blob[1]]).toEqual([0x1f, 0x8b]);
      expect(sha256(gunzipSync(blob))).toBe(config.rootfs.diff_ids[i]);
    }
    const built2 = manifest.layers.slice(-2);
    expect(built2.map((l) => l.mediaType)).toEqual([mediaTypes.ociLayerGzip, mediaTypes.ociLayerGzip]);
    // 200 repeated lines (a 4.8 kB file, over 5 kB as a tar) shrink: the COPY layer went compressed.
    expect((built2[0] as { size: number }).size).toBeLessThan(1500);

    // Again: every layer is a HEAD hit on the recorded gzip digest; nothing is pushed, the digest is the same.
    const second: PullProgress[] = [];
    const again = await engine.images.push(tag, { onProgress: (p) => second.push(p) });
    expect(again.digest).toBe(pushed.digest);
    expect(second.filter((p) => p.status === 'Pushing' || p.status === 'Pushed')).toEqual([]);
    expect(second.filter((p) => p.status === 'Layer already exists').length).toBe(manifest.layers.length);

    // Pulled back from the registry into an engine that no longer has it, the image runs.
    await engine.images.remove(tag, { force: true });
    await engine.images.remove(built.id, { force: true }).catch(() => undefined);
    await engine.images.pull(tag);
    const pulled = await engine.images.inspect(tag);
    expect(pulled.RootFS.Layers.slice(-2)).toEqual([copyDiff, runDiff]);
    expect(await imageOutput(engine, tag)).toBe('built-and-pushed\n');
    await rm(ctx, { recursive: true, force: true });
  });
});
