/**
 * Docker's detach keys: a byte sequence on an attached stdin that ends the attach session and leaves the
 * container running (default ctrl-p ctrl-q). The daemon watches for it, not the CLI, so the agent does too.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { ApiError } from './errors';

export const defaultDetachKeys = 'ctrl-p,ctrl-q';

/** Parses Docker's notation: comma-separated keys, each one character or `ctrl-<a-z @ [ \ ] ^ _>`. */
export function parseDetachKeys(spec: string): Buffer {
  const bytes: number[] = [];
  for (const key of spec.split(',')) {
    if (key.length === 1) {
      bytes.push(key.charCodeAt(0));
      continue;
    }
    const ctrl = /^ctrl-([a-z@[\\\]^_])$/.exec(key);
    if (!ctrl?.[1]) throw new ApiError(400, `Invalid detach keys (${spec}) provided`);
    const c = ctrl[1];
    bytes.push(c >= 'a' && c <= 'z' ? c.charCodeAt(0) - 96 : c.charCodeAt(0) - 64);
  }
  if (bytes.length === 0 || bytes.some((b) => b > 0x7f))
    throw new ApiError(400, `Invalid detach keys (${spec}) provided`);
  return Buffer.from(bytes);
}

/**
 * Passes input through until the sequence is typed, then calls `onDetach` and drops the rest. A partial
 * match is held back until the next byte decides, as dockerd's escape proxy does; bytes that turn out not
 * to be the sequence are passed on.
 */
export function detachKeysFilter(keys: Buffer, onDetach: () => void): Transform {
  let matched = 0;
  let detached = false;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      if (detached) return callback();
      const out: number[] = [];
      for (const byte of chunk) {
        if (byte === keys[matched]) {
          matched++;
          if (matched === keys.length) {
            detached = true;
            if (out.length > 0) this.push(Buffer.from(out));
            onDetach();
            return callback();
          }
          continue;
        }
        if (matched > 0) {
          out.push(...keys.subarray(0, matched));
          matched = 0;
          if (byte === keys[0]) {
            matched = 1;
            continue;
          }
        }
        out.push(byte);
      }
      callback(null, out.length > 0 ? Buffer.from(out) : undefined);
    },
    flush(callback) {
      if (!detached && matched > 0) this.push(keys.subarray(0, matched));
      callback();
    },
  });
}
