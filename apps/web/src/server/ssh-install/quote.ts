/**
 * The one way a value reaches a remote shell: as a single-quoted word. Inside single quotes POSIX sh expands
 * nothing ($(…), `…`, $VAR, globs, ;, # are all literal); the only character to handle is the quote itself,
 * which closes the quoting, is emitted escaped, and reopens it: ' → '\''. NUL cannot be passed in an argument
 * at all, so a value holding one is refused rather than silently cut.
 */
export class UnsafeShellValueError extends Error {
  override readonly name = 'UnsafeShellValueError';
}

export function shQuote(value: string | number): string {
  const text = String(value);
  if (text.includes('\0'))
    throw new UnsafeShellValueError('a value for the remote shell contains a NUL byte');
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/**
 * A value for the agent's environment file, which is read twice: by POSIX sh (`set -a; . file` without systemd)
 * and by systemd's EnvironmentFile=. They agree on double quotes: in both, a backslash there escapes a
 * backslash, ", $ or ` and is otherwise literal, and sh expands no escaped $ or `. They do not agree on single
 * quotes: systemd reads shQuote's '\'' as two quotes. A line break would end the line for systemd, so a value
 * holding one is refused.
 */
export function envFileQuote(value: string): string {
  if (/[\0\r\n]/.test(value))
    throw new UnsafeShellValueError('a value for the environment file contains a NUL byte or a line break');
  return `"${value.replace(/[\\"$`]/g, (c) => `\\${c}`)}"`;
}

/**
 * A command line from a template whose every interpolated value is quoted with shQuote: the literal parts are
 * the only shell syntax. `sh\`install -m 0644 ${src} ${dest}\``.
 */
export function sh(strings: TemplateStringsArray, ...values: Array<string | number>): string {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += shQuote(value) + (strings[i + 1] ?? '');
  });
  return out;
}
