import { describe, expect, it } from 'vitest';
import { LogBuffer, type LogLine, logFileText, makeFilter } from './log-buffer';

let id = 0;
const line = (time: string, text: string, source = 0, stream: LogLine['stream'] = 'stdout'): LogLine => ({
  id: id++,
  source,
  stream,
  text,
  time,
});
const t = (second: number) => `2026-11-23T10:00:${String(second).padStart(2, '0')}.000000000Z`;

describe('log buffer', () => {
  it('keeps lines in time order when a late line of another container arrives', () => {
    const buffer = new LogBuffer();
    buffer.add([line(t(1), 'a1'), line(t(3), 'a3')]);
    buffer.add([line(t(2), 'b2', 1), line(t(4), 'b4', 1)]);
    expect(buffer.all.map((l) => l.text)).toEqual(['a1', 'b2', 'a3', 'b4']);
  });

  it('drops the oldest past its capacity and counts them', () => {
    const buffer = new LogBuffer(100);
    for (let i = 0; i < 25; i++)
      buffer.add(Array.from({ length: 10 }, (_, j) => line(t(0), `${i * 10 + j}`)));
    expect(buffer.size).toBeLessThanOrEqual(100);
    expect(buffer.dropped + buffer.size).toBe(250);
    expect(buffer.all.at(-1)?.text).toBe('249');
    expect(Number(buffer.all[0]?.text)).toBe(buffer.dropped);
  });

  it('filters by substring (any case) or regular expression, also lines added later', () => {
    const buffer = new LogBuffer();
    buffer.add([line(t(1), 'GET /health 200'), line(t(2), 'POST /login 500')]);
    buffer.setFilter(makeFilter('get', false).filter);
    expect(buffer.visible.map((l) => l.text)).toEqual(['GET /health 200']);
    buffer.add([line(t(3), 'get /x 404'), line(t(4), 'put /y')]);
    expect(buffer.visible.map((l) => l.text)).toEqual(['GET /health 200', 'get /x 404']);
    buffer.setFilter(makeFilter(' 5\\d\\d$', true).filter);
    expect(buffer.visible.map((l) => l.text)).toEqual(['POST /login 500']);
    expect(makeFilter('(', true).error).toBeTruthy();
    buffer.setFilter(undefined);
    expect(buffer.visible).toHaveLength(4);
  });

  it('writes a .log file with times, container names when merged, and streams', () => {
    const lines = [line(t(1), 'hello', 0), line(t(2), 'oops', 1, 'stderr')];
    expect(logFileText(lines, ['web', 'db'])).toBe(`${t(1)} web stdout hello\n${t(2)} db stderr oops\n`);
    expect(logFileText(lines.slice(0, 1), ['web'])).toBe(`${t(1)} stdout hello\n`);
  });
});
