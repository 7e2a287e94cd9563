/** JSON from an untrusted peer (a browser's or another instance's message): undefined when it is not JSON. */
export function parseJsonOrUndefined(text: string | undefined): unknown {
  try {
    return JSON.parse(text ?? '');
  } catch {
    return undefined;
  }
}
