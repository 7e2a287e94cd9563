import { closeSync, openSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLogs, tailOffset } from './logs';

describe('log tail', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bt-logs-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const record = (i: number, tag: 'F' | 'P', text: string, stream = 'stdout') =>
    `2026-11-23T10:00:00.${String(i).padStart(9, '0')}Z ${stream} ${tag} ${text}\n`;

  async function tail(content: string, n: number): Promise<string[]> {
    const path = join(dir, `log-${Math.random()}`);
    writeFileSync(path, content);
    const lines: string[] = [];
    for await (const entry of readLogs(
      path,
      { stdout: true, stderr: true, follow: false, tail: n },
      () => true,
    ))
      lines.push(`${entry.stream}:${entry.data.toString()}`);
    return lines;
  }

  it('finds the start of the last lines from the end, joining partial records, across blocks', async () => {
    // 20,000 lines (about 1 MB, many 64 KiB blocks), every tenth one written in three partial records.
    let content = '';
    for (let i = 0; i < 20_000; i++)
      content +=
        i % 10 === 0
          ? record(i, 'P', `part-a-${i}`) + record(i, 'P', `part-b-${i}`) + record(i, 'F', `end-${i}`)
          : record(i, 'F', `line-${i}`, i % 2 ? 'stderr' : 'stdout');
    const last = await tail(content, 3);
    expect(last).toEqual(['stderr:line-19997\n', 'stdout:line-19998\n', 'stderr:line-19999\n']);
    const joined = await tail(content, 11);
    expect(joined[1]).toBe('stdout:part-a-19990part-b-19990end-19990\n');
    expect(await tail(content, 0)).toEqual([]);
    expect(await tail(record(1, 'F', 'only'), 5)).toEqual(['stdout:only\n']);
    // An unfinished line at the end is not one of the last lines: they start after the line before them.
    const path = join(dir, 'unfinished');
    const one = record(1, 'F', 'one');
    const rest = record(2, 'F', 'two') + record(3, 'P', 'thr');
    writeFileSync(path, one + rest);
    const fd = openSync(path, 'r');
    try {
      expect(tailOffset(fd, Buffer.byteLength(one + rest), 1)).toBe(Buffer.byteLength(one));
      expect(tailOffset(fd, Buffer.byteLength(one + rest), 2)).toBe(0);
    } finally {
      closeSync(fd);
    }
  });
});
