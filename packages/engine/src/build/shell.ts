/**
 * Docker's word processing for Dockerfile arguments (moby/buildkit `shell.Lex`): quotes, the escapeChar
 * character, and `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`, `${VAR+word}`,
 * `${VAR:?msg}`. Used for the instructions Docker expands (FROM, COPY, ADD, ENV, ARG, LABEL, WORKDIR, USER,
 * EXPOSE, VOLUME, STOPSIGNAL, ONBUILD is not); RUN, CMD and ENTRYPOINT are left to the container's shell.
 */
import { EngineError } from '../errors';

export type Env = ReadonlyMap<string, string>;

interface Words {
  words: string[];
  current: string;
  inWord: boolean;
}

function addChar(w: Words, ch: string): void {
  if (/\s/.test(ch)) {
    if (w.inWord) {
      w.words.push(w.current);
      w.current = '';
      w.inWord = false;
    }
    return;
  }
  w.current += ch;
  w.inWord = true;
}

function addRaw(w: Words, text: string): void {
  w.current += text;
  w.inWord = true;
}

class Lexer {
  #pos = 0;
  constructor(
    readonly input: string,
    readonly env: Env,
    readonly escapeChar: string,
  ) {}

  #peek(): string | undefined {
    return this.input[this.#pos];
  }

  #next(): string | undefined {
    return this.input[this.#pos++];
  }

  /** Processes until `stop` (unescaped, unquoted) or the end; returns the word and its split words. */
  process(stop?: string): { word: string; words: string[] } {
    let word = '';
    const w: Words = { words: [], current: '', inWord: false };
    for (;;) {
      const ch = this.#peek();
      if (ch === undefined) break;
      if (stop !== undefined && ch === stop) break;
      if (ch === "'") {
        const text = this.#single();
        word += text;
        addRaw(w, text);
      } else if (ch === '"') {
        const text = this.#double();
        word += text;
        addRaw(w, text);
      } else if (ch === '$') {
        const text = this.#dollar();
        word += text;
        for (const c of text) addChar(w, c);
      } else {
        this.#next();
        let c = ch;
        if (c === this.escapeChar) {
          const escaped = this.#next();
          if (escaped === undefined) break; // a trailing escapeChar character vanishes
          c = escaped;
          word += c;
          addRaw(w, c);
          continue;
        }
        word += c;
        addChar(w, c);
      }
    }
    if (w.inWord) w.words.push(w.current);
    return { word, words: w.words };
  }

  #single(): string {
    this.#next();
    let out = '';
    for (;;) {
      const ch = this.#next();
      if (ch === undefined)
        throw new EngineError(
          'invalid_argument',
          'unexpected end of statement while looking for matching single-quote',
        );
      if (ch === "'") return out;
      out += ch;
    }
  }

  #double(): string {
    this.#next();
    let out = '';
    for (;;) {
      const ch = this.#peek();
      if (ch === undefined)
        throw new EngineError(
          'invalid_argument',
          'unexpected end of statement while looking for matching double-quote',
        );
      if (ch === '"') {
        this.#next();
        return out;
      }
      if (ch === '$') {
        out += this.#dollar();
        continue;
      }
      this.#next();
      if (ch === this.escapeChar) {
        const n = this.#peek();
        // Inside double quotes only these are escapable, as in the shell.
        if (n === '"' || n === '$' || n === this.escapeChar) {
          out += this.#next();
          continue;
        }
      }
      out += ch;
    }
  }

  #dollar(): string {
    this.#next(); // $
    const ch = this.#peek();
    if (ch === '{') {
      this.#next();
      const name = this.#name();
      const op = this.#peek();
      if (op === '}') {
        this.#next();
        return this.env.get(name) ?? '';
      }
      if (op === ':' || op === '-' || op === '+' || op === '?') {
        this.#next();
        let modifier = op;
        if (op === ':') {
          const second = this.#next();
          if (second !== '-' && second !== '+' && second !== '?')
            throw new EngineError(
              'invalid_argument',
              `unsupported modifier (:${second ?? ''}) in substitution`,
            );
          modifier = `:${second}`;
        }
        const word = this.process('}').word;
        if (this.#next() !== '}')
          throw new EngineError('invalid_argument', `missing '}' in substitution of ${name}`);
        const value = this.env.get(name);
        const set = value !== undefined;
        const nonEmpty = set && value !== '';
        switch (modifier) {
          case ':-':
            return nonEmpty ? value : word;
          case '-':
            return set ? value : word;
          case ':+':
            return nonEmpty ? word : '';
          case '+':
            return set ? word : '';
          case ':?':
            if (!nonEmpty)
              throw new EngineError('invalid_argument', `${name}: ${word || 'is not allowed to be unset'}`);
            return value;
          default:
            if (!set)
              throw new EngineError('invalid_argument', `${name}: ${word || 'is not allowed to be unset'}`);
            return value;
        }
      }
      throw new EngineError('invalid_argument', `missing ':' in substitution of ${name}`);
    }
    const name = this.#name();
    if (name === '') return '$';
    return this.env.get(name) ?? '';
  }

  #name(): string {
    let name = '';
    const first = this.#peek();
    if (first !== undefined && /[0-9]/.test(first)) {
      this.#next();
      return first; // positional: $1
    }
    for (;;) {
      const ch = this.#peek();
      if (ch === undefined || !/[A-Za-z0-9_]/.test(ch)) return name;
      name += ch;
      this.#next();
    }
  }
}

/** One word with quotes removed and variables expanded (Docker's ProcessWord). */
export function expandWord(input: string, env: Env, escapeChar = '\\'): string {
  return new Lexer(input, env, escapeChar).process().word;
}

/** Expanded and split on unquoted whitespace (Docker's ProcessWords): for EXPOSE, VOLUME, USER lists. */
export function expandWords(input: string, env: Env, escapeChar = '\\'): string[] {
  return new Lexer(input, env, escapeChar).process().words;
}

/**
 * Splits on unquoted whitespace keeping quotes and escapes as written (the parser's job before the builder
 * expands each part).
 */
export function splitRaw(input: string, escapeChar = '\\'): string[] {
  const out: string[] = [];
  let current = '';
  let quote: string | undefined;
  let inWord = false;
  for (let i = 0; i < input.length; i++) {
    const ch = input[i] as string;
    if (ch === escapeChar && quote !== "'" && i + 1 < input.length) {
      current += ch + input[i + 1];
      i++;
      inWord = true;
      continue;
    }
    if (quote) {
      if (ch === quote) quote = undefined;
      current += ch;
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = ch;
      current += ch;
      inWord = true;
      continue;
    }
    if (/\s/.test(ch)) {
      if (inWord) out.push(current);
      current = '';
      inWord = false;
      continue;
    }
    current += ch;
    inWord = true;
  }
  if (inWord) out.push(current);
  return out;
}
