/**
 * `.dockerignore` with Docker's rules (moby/patternmatcher): `#` comments, `!` exceptions, patterns cleaned
 * like filepath.Clean with a leading `/` dropped, `*` and `?` within one path component, `**` across any
 * number of them, and the last matching pattern winning. A path is excluded when a pattern matches it or
 * one of its parent directories.
 */
import { posix } from 'node:path';

interface Pattern {
  source: string;
  regexp: RegExp;
  exclusion: boolean;
}

export function parseIgnoreFile(text: string): string[] {
  const out: string[] = [];
  for (const rawLine of text.split(/\r?\n/)) {
    if (rawLine.startsWith('#')) continue;
    let line = rawLine.trim();
    if (line === '') continue;
    let invert = false;
    if (line.startsWith('!')) {
      invert = true;
      line = line.slice(1).trim();
    }
    if (line.length > 0) {
      line = posix.normalize(line);
      if (line.length > 1 && line.startsWith('/')) line = line.slice(1);
      if (line.endsWith('/') && line.length > 1) line = line.slice(0, -1);
    }
    out.push(invert ? `!${line}` : line);
  }
  return out;
}

const special = new Set(['.', '+', '(', ')', '|', '{', '}', '$', '^']);

/** Go filepath.Match-like component globbing plus `**`, compiled to a regular expression. */
export function globToRegExp(pattern: string): RegExp {
  let out = '^';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') i++;
        out += i + 1 >= pattern.length ? '.*' : '(.*/)?';
      } else out += '[^/]*';
    } else if (ch === '?') out += '[^/]';
    else if (ch === '\\') {
      const next = pattern[i + 1];
      if (next !== undefined) {
        out += `\\${next}`;
        i++;
      } else out += '\\\\';
    } else if (ch === '[') {
      const close = pattern.indexOf(']', i + 1);
      if (close === -1) out += '\\[';
      else {
        let body = pattern.slice(i + 1, close);
        if (body.startsWith('!') || body.startsWith('^')) body = `^${body.slice(1)}`;
        out += `[${body.replace(/\\/g, '\\\\')}]`;
        i = close;
      }
    } else if (special.has(ch)) out += `\\${ch}`;
    else out += ch;
  }
  return new RegExp(`${out}$`);
}

export class IgnoreMatcher {
  readonly #patterns: Pattern[];

  constructor(patterns: string[]) {
    this.#patterns = patterns
      .filter((p) => p !== '' && p !== '!')
      .map((p) => {
        const exclusion = p.startsWith('!');
        const source = exclusion ? p.slice(1) : p;
        return { source, regexp: globToRegExp(source), exclusion };
      });
  }

  get empty(): boolean {
    return this.#patterns.length === 0;
  }

  /** Whether any exception pattern exists: then an excluded directory must still be walked. */
  get hasExceptions(): boolean {
    return this.#patterns.some((p) => p.exclusion);
  }

  /** `path` is relative to the context root, `/`-separated, without a leading `./`. */
  excludes(path: string): boolean {
    const parts = path.split('/');
    let matched = false;
    for (const pattern of this.#patterns) {
      if (matched === !pattern.exclusion) continue; // cannot change the outcome
      let match = pattern.regexp.test(path);
      for (let i = 1; !match && i < parts.length; i++)
        match = pattern.regexp.test(parts.slice(0, i).join('/'));
      if (match) matched = !pattern.exclusion;
    }
    return matched;
  }
}
