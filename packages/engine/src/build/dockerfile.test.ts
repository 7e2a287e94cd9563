// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Dockerfile variable syntax under test
import { describe, expect, it } from 'vitest';
import { EngineError } from '../errors';
import { parseDockerfile } from './dockerfile';
import { IgnoreMatcher, parseIgnoreFile } from './ignore';
import { expandWord, expandWords, splitRaw } from './shell';

describe('Dockerfile parser', () => {
  it('joins continuations, drops comments inside them, keeps flags and the JSON form', () => {
    const file = parseDockerfile(
      [
        '# syntax=docker/dockerfile:1',
        'FROM --platform=linux/amd64 busybox AS base',
        'RUN echo a \\',
        '  # a comment inside the continuation',
        '',
        '    && echo b',
        'COPY --chown=1:2 --from=base ["/a b", "/dst/"]',
        'cmd ["sh", "-c", "echo hi"]',
        'ENTRYPOINT [not json',
      ].join('\n'),
    );
    expect(file.syntax).toBe('docker/dockerfile:1');
    const [from, run, copy, cmd, entry] = file.instructions;
    expect(from?.keyword).toBe('FROM');
    expect(from?.flags.get('platform')).toBe('linux/amd64');
    expect(from?.args).toBe('busybox AS base');
    expect(run?.args).toBe('echo a && echo b');
    expect(run?.line).toBe(3);
    expect(copy?.flags.get('chown')).toBe('1:2');
    expect(copy?.flags.get('from')).toBe('base');
    expect(copy?.json).toEqual(['/a b', '/dst/']);
    expect(cmd?.keyword).toBe('CMD');
    expect(cmd?.json).toEqual(['sh', '-c', 'echo hi']);
    expect(entry?.json).toBeUndefined();
    expect(entry?.args).toBe('[not json');
  });

  it('honours the escape directive', () => {
    const file = parseDockerfile('# escape=`\nFROM scratch\nRUN dir c:\\ `\n  && echo done\n');
    expect(file.escape).toBe('`');
    expect(file.instructions[1]?.args).toBe('dir c:\\ && echo done');
  });

  it('reads heredocs, chomped and quoted', () => {
    const file = parseDockerfile(
      [
        'FROM busybox',
        'RUN <<EOF',
        'echo one',
        'echo two',
        'EOF',
        'COPY <<-"END" /x',
        '\t$HOME',
        '\tEND',
        'CMD x',
      ].join('\n'),
    );
    const [, run, copy, cmd] = file.instructions;
    expect(run?.heredocs).toEqual([{ name: 'EOF', content: 'echo one\necho two\n', expand: true }]);
    expect(copy?.heredocs).toEqual([{ name: 'END', content: '$HOME\n', expand: false }]);
    expect(cmd?.keyword).toBe('CMD');
  });

  it('refuses unknown instructions and unterminated heredocs with the line', () => {
    expect(() => parseDockerfile('FROM busybox\nFROBNICATE x')).toThrow(
      /line 2: unknown instruction: FROBNICATE/,
    );
    expect(() => parseDockerfile('FROM busybox\nRUN <<EOF\necho')).toThrow(EngineError);
  });
});

describe('word expansion', () => {
  const env = new Map([
    ['A', 'alpha'],
    ['EMPTY', ''],
    ['SP', 'x y'],
  ]);
  it('expands the forms Docker supports', () => {
    expect(expandWord('$A ${A} ${A}x', env)).toBe('alpha alpha alphax');
    expect(expandWord('${NOPE:-def} ${EMPTY:-def} ${EMPTY-def} ${A:-def}', env)).toBe('def def  alpha');
    expect(expandWord('${A:+set} ${EMPTY:+set} ${EMPTY+set} ${NOPE+set}', env)).toBe('set  set ');
    expect(expandWord('${NOPE:-${A}}', env)).toBe('alpha');
    expect(() => expandWord('${NOPE:?must be set}', env)).toThrow(/NOPE: must be set/);
  });
  it('keeps quotes and escapes as the shell would', () => {
    expect(expandWord(`'$A' "$A" \\$A "a\\"b"`, env)).toBe('$A alpha $A a"b');
    expect(expandWord('a`$A', env, '`')).toBe('a$A');
  });
  it('splits on unquoted whitespace, also inside expansions but not inside quotes', () => {
    expect(expandWords('80 "$SP" $SP', env)).toEqual(['80', 'x y', 'x', 'y']);
    expect(splitRaw('A="a b" B=c\\ d C')).toEqual(['A="a b"', 'B=c\\ d', 'C']);
  });
});

describe('.dockerignore', () => {
  const matcher = (text: string) => new IgnoreMatcher(parseIgnoreFile(text));
  it('applies Docker pattern rules with the last match winning', () => {
    const m = matcher('# comment\n*.log\n!keep.log\n/build\n**/tmp\nsecret?.txt\ndocs/**/*.md\n');
    expect(m.excludes('a.log')).toBe(true);
    expect(m.excludes('keep.log')).toBe(false);
    expect(m.excludes('sub/a.log')).toBe(false); // `*` stays within one component
    expect(m.excludes('build/x/y')).toBe(true); // a parent directory matched
    expect(m.excludes('a/b/tmp/c')).toBe(true);
    expect(m.excludes('tmp')).toBe(true);
    expect(m.excludes('secret1.txt')).toBe(true);
    expect(m.excludes('secret12.txt')).toBe(false);
    expect(m.excludes('docs/a/b/c.md')).toBe(true);
    expect(m.excludes('docs/c.md')).toBe(true);
    expect(m.excludes('src/main.ts')).toBe(false);
    expect(m.hasExceptions).toBe(true);
  });
  it('cleans patterns like filepath.Clean', () => {
    expect(parseIgnoreFile('./a/../b/\n  !/c  \n')).toEqual(['b', '!c']);
  });
});
