import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContentStore } from '../images/content';
import { unpackLayer } from '../images/unpack';
import { commitLayer, paxRecords } from './layer';

describe('build layers from overlay upper dirs', () => {
  let root: string;
  let content: ContentStore;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'bt-layer-'));
    content = new ContentStore(join(root, 'content'));
    await content.init();
  });
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('keeps file capabilities, also on long names, and the tar unpacks to the same xattr', async () => {
    const upper = join(root, 'upper');
    const longDir = join(upper, 'usr', 'x'.repeat(60), 'y'.repeat(40));
    await mkdir(longDir, { recursive: true });
    await writeFile(join(upper, 'usr', 'ping'), 'binary');
    await writeFile(join(longDir, 'tool'), 'binary');
    for (const file of [join(upper, 'usr', 'ping'), join(longDir, 'tool')])
      execFileSync('setcap', ['cap_net_raw+ep', file]);
    const layer = await commitLayer(upper, content);
    const listing = execFileSync('tar', ['-tf', content.blobPath(layer.descriptor.digest)], {
      encoding: 'utf8',
    });
    expect(listing.split('\n')).toContain(`usr/${'x'.repeat(60)}/${'y'.repeat(40)}/tool`);
    const out = join(root, 'out');
    await mkdir(out);
    const result = await unpackLayer(content.read(layer.descriptor.digest), layer.descriptor.mediaType, out);
    expect(result.diffId).toBe(layer.diffId);
    for (const file of [join(out, 'usr', 'ping'), join(out, 'usr', 'x'.repeat(60), 'y'.repeat(40), 'tool')])
      expect(execFileSync('getcap', [file], { encoding: 'utf8' })).toContain('cap_net_raw=ep');
  });

  it('writes PAX record lengths that count their own digits', () => {
    const record = paxRecords([['k', Buffer.alloc(3, 1)]]).toString('latin1');
    expect(record).toBe('8 k=\u0001\u0001\u0001\n');
    const long = paxRecords([['key', Buffer.alloc(93, 0x61)]]);
    expect(long.length).toBe(Number(long.toString('latin1').split(' ')[0]));
  });
});
