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
