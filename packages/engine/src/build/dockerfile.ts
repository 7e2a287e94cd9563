/**
 * Dockerfile syntax as moby/buildkit's parser reads it: parser directives at the top (`# escape=`,
 * `# syntax=`), comment lines dropped (also inside continuations), the escape character joining lines,
 * heredocs (`<<EOF`, `<<-EOF`, `<<"EOF"`) for RUN, COPY and ADD, `--flag=value` options, and the JSON
 * (exec) form. What each instruction means is the builder's business.
 */
import { EngineError } from '../errors';

export const knownInstructions = [
  'ADD',
  'ARG',
  'CMD',
  'COPY',
  'ENTRYPOINT',
  'ENV',
  'EXPOSE',
  'FROM',
  'HEALTHCHECK',
  'LABEL',
  'MAINTAINER',
  'ONBUILD',
  'RUN',
  'SHELL',
  'STOPSIGNAL',
  'USER',
  'VOLUME',
  'WORKDIR',
] as const;
export type Keyword = (typeof knownInstructions)[number];

const jsonFormInstructions = new Set(['RUN', 'CMD', 'ENTRYPOINT', 'SHELL', 'VOLUME', 'COPY', 'ADD']);
const heredocInstructions = new Set(['RUN', 'COPY', 'ADD']);

export interface Heredoc {
  name: string;
  content: string;
  /** False when the marker was quoted (`<<"EOF"`): no variable expansion in the content. */
  expand: boolean;
}

export interface Instruction {
  keyword: Keyword;
  /** 1-based line of the instruction's first line. */
  line: number;
  /** The instruction as written, continuations joined (what `Step n/m :` shows). */
  original: string;
  /** `--name=value` options before the arguments; a bare `--name` is `true`. */
  flags: Map<string, string | true>;
  /** The arguments after the flags, unexpanded, surrounding whitespace trimmed. */
  args: string;
  /** Set for the exec form: `["a", "b"]`. */
  json?: string[];
  heredocs: Heredoc[];
}

export interface Dockerfile {
  escape: string;
  syntax?: string;
  instructions: Instruction[];
}

const heredocRe = /<<(-?)\s*(["']?)([A-Za-z_][A-Za-z0-9_]*)\2/g;

function parseError(line: number, message: string): EngineError {
  return new EngineError('invalid_argument', `Dockerfile parse error on line ${line}: ${message}`);
}

export function parseDockerfile(text: string): Dockerfile {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let escapeChar = '\\';
  let syntax: string | undefined;
  let i = 0;
  // Directives: only in the leading comment lines; the first anything-else ends them.
  const seen = new Set<string>();
  for (; i < lines.length; i++) {
    const match = /^#\s*([A-Za-z][A-Za-z0-9]*)\s*=\s*(.+?)\s*$/.exec(lines[i] as string);
    if (!match) break;
    const key = (match[1] as string).toLowerCase();
    const value = match[2] as string;
    if (seen.has(key)) throw parseError(i + 1, `only one ${key} parser directive can be used`);
    seen.add(key);
    if (key === 'escape') {
      if (value !== '\\' && value !== '`')
        throw parseError(i + 1, `invalid escape token '${value}' does not match \` or \\`);
      escapeChar = value;
    } else if (key === 'syntax') syntax = value;
  }
  i = 0;
  const continuation = new RegExp(`${escapeChar === '\\' ? '\\\\' : '`'}[ \\t]*$`);
  const instructions: Instruction[] = [];
  while (i < lines.length) {
    const raw = (lines[i] as string).replace(/^\s+/, '');
    const start = i + 1;
    i++;
    if (raw === '' || raw.startsWith('#')) continue;
    let logical = raw;
    let continued = continuation.test(logical);
    if (continued) logical = logical.replace(continuation, '');
    while (continued && i < lines.length) {
      const next = (lines[i] as string).replace(/^\s+/, '');
      i++;
      if (next.startsWith('#')) continue;
      if (next.trim() === '') continue; // Docker warns about empty continuation lines and skips them
      continued = continuation.test(next);
      logical += continued ? next.replace(continuation, '') : next;
    }
    const match = /^(\S+)\s*([\s\S]*)$/.exec(logical);
    if (!match) continue;
    const word = (match[1] as string).toUpperCase();
    if (!(knownInstructions as readonly string[]).includes(word))
      throw parseError(start, `unknown instruction: ${match[1]}`);
    const keyword = word as Keyword;
    const { flags, rest } = splitFlags(match[2] as string);
    const heredocs: Heredoc[] = [];
    if (heredocInstructions.has(keyword)) {
      for (const h of rest.matchAll(heredocRe)) {
        const chomp = h[1] === '-';
        const name = h[3] as string;
        const body: string[] = [];
        let closed = false;
        while (i < lines.length) {
          let line = lines[i] as string;
          i++;
          if (chomp) line = line.replace(/^\t+/, '');
          if (line === name) {
            closed = true;
            break;
          }
          body.push(line);
        }
        if (!closed) throw parseError(start, `unterminated heredoc ${name}`);
        heredocs.push({ name, content: body.length ? `${body.join('\n')}\n` : '', expand: h[2] === '' });
      }
    }
    const instruction: Instruction = {
      keyword,
      line: start,
      original: `${match[1]} ${(match[2] as string).trim()}`.trim(),
      flags,
      args: rest.trim(),
      heredocs,
    };
    if (jsonFormInstructions.has(keyword)) {
      const json = parseJsonArray(instruction.args);
      if (json) instruction.json = json;
    }
    instructions.push(instruction);
  }
  return { escape: escapeChar, ...(syntax ? { syntax } : {}), instructions };
}

/** Parses an instruction given as text (ONBUILD's trigger) with the same rules. */
export function parseInstructionText(text: string, escapeChar: string, line: number): Instruction {
  const parsed = parseDockerfile(`${escapeChar === '`' ? '# escape=`\n' : ''}${text}`);
  const only = parsed.instructions[0];
  if (!only || parsed.instructions.length !== 1) throw parseError(line, `invalid instruction: ${text}`);
  return { ...only, line };
}

function splitFlags(input: string): { flags: Map<string, string | true>; rest: string } {
  const flags = new Map<string, string | true>();
  let rest = input;
  for (;;) {
    const match = /^--([A-Za-z][A-Za-z0-9-]*)(?:=((?:"[^"]*"|'[^']*'|\S)*))?(?:\s+|$)/.exec(rest);
    if (!match) break;
    const value = match[2];
    flags.set(match[1] as string, value === undefined ? true : unquote(value));
    rest = rest.slice(match[0].length);
  }
  return { flags, rest };
}

function unquote(value: string): string {
  if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.at(-1) === value[0])
    return value.slice(1, -1);
  return value;
}

function parseJsonArray(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  try {
    const value: unknown = JSON.parse(args);
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
  } catch {
    // not JSON: the shell form, as Docker falls back to it
  }
  return undefined;
}
