/**
 * A build context packed in the browser: the chosen files as a POSIX ustar archive (what `docker build`
 * sends), without a dependency. Long paths go in ustar's prefix field; longer ones are refused by name.
 */

export interface TarFile<T = Uint8Array> {
  /** Path inside the context, with `/` separators and no leading slash. */
  path: string;
  /** The content: bytes, or anything a Blob takes as a part (a File, so nothing is read into memory). */
  body: T;
  size: number;
  /** Unix seconds. */
  mtime?: number;
  mode?: number;
}

const block = 512;
const encoder = new TextEncoder();

function writeString(header: Uint8Array, offset: number, length: number, value: string): void {
  const bytes = encoder.encode(value);
  if (bytes.length > length) throw new Error(`tar field too long: ${value}`);
  header.set(bytes, offset);
}

function writeOctal(header: Uint8Array, offset: number, length: number, value: number): void {
  // length-1 octal digits, then NUL, as ustar wants.
  writeString(header, offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
}

/** Splits a path into ustar's prefix (155 bytes) and name (100 bytes) at a slash. */
function splitPath(path: string): { prefix: string; name: string } {
  if (encoder.encode(path).length <= 100) return { prefix: '', name: path };
  for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (encoder.encode(prefix).length <= 155 && encoder.encode(name).length <= 100) return { prefix, name };
  }
  throw new Error(`path too long for the build context: ${path}`);
}

export function normalizeContextPath(path: string): string {
  const parts = path.split(/[\\/]+/).filter((p) => p !== '' && p !== '.');
  if (parts.length === 0 || parts.includes('..')) throw new Error(`not a path inside the context: ${path}`);
  return parts.join('/');
}

function header(file: TarFile<unknown>): Uint8Array {
  const h = new Uint8Array(block);
  const { prefix, name } = splitPath(file.path);
  writeString(h, 0, 100, name);
  writeOctal(h, 100, 8, file.mode ?? 0o644);
  writeOctal(h, 108, 8, 0); // uid
  writeOctal(h, 116, 8, 0); // gid
  writeOctal(h, 124, 12, file.size);
  writeOctal(h, 136, 12, Math.max(0, Math.floor(file.mtime ?? 0)));
  h.fill(0x20, 148, 156); // checksum counted as spaces
  h[156] = 0x30; // regular file
  writeString(h, 257, 6, 'ustar\0');
  writeString(h, 263, 2, '00');
  writeString(h, 345, 155, prefix);
  let sum = 0;
  for (const byte of h) sum += byte;
  writeString(h, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return h;
}

/** The archive's parts, in order: headers and padding as bytes, the bodies as given (a Blob of them uploads). */
export function tarParts<T>(files: TarFile<T>[]): Array<Uint8Array | T> {
  const seen = new Set<string>();
  const parts: Array<Uint8Array | T> = [];
  for (const file of files) {
    const path = normalizeContextPath(file.path);
    if (seen.has(path)) throw new Error(`the context has ${path} twice`);
    seen.add(path);
    parts.push(header({ ...file, path }), file.body);
    const pad = (block - (file.size % block)) % block;
    if (pad) parts.push(new Uint8Array(pad));
  }
  parts.push(new Uint8Array(block * 2));
  return parts;
}
