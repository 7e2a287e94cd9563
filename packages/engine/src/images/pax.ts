/**
 * Follows the tar headers in a stream alongside tar-stream, only to recover PAX `SCHILY.xattr.*` values as
 * raw bytes: tar-stream decodes PAX values as UTF-8, which corrupts binary xattrs such as
 * `security.capability`. Entry n here is the n-th entry tar-stream yields (PAX, global PAX and GNU long-name
 * headers are metadata in both).
 */
export class PaxXattrTracker {
  /** Raw xattrs per real entry, in stream order; undefined where an entry has none. */
  readonly entries: (Map<string, Buffer> | undefined)[] = [];
  #header = Buffer.alloc(512);
  #headerFill = 0;
  #remaining = 0; // data bytes of the current entry still to skip or collect
  #padding = 0;
  #collecting: Buffer[] | undefined; // data of a PAX header being read
  #pending: Map<string, Buffer> | undefined;
  #pendingSize: number | undefined;

  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.#remaining > 0) {
        const take = Math.min(this.#remaining, chunk.length - off);
        this.#collecting?.push(chunk.subarray(off, off + take));
        this.#remaining -= take;
        off += take;
        if (this.#remaining === 0 && this.#collecting) {
          this.#pending = parsePaxXattrs(Buffer.concat(this.#collecting), this.#pending);
          this.#pendingSize = paxSize(Buffer.concat(this.#collecting)) ?? this.#pendingSize;
          this.#collecting = undefined;
        }
        continue;
      }
      if (this.#padding > 0) {
        const take = Math.min(this.#padding, chunk.length - off);
        this.#padding -= take;
        off += take;
        continue;
      }
      const take = Math.min(512 - this.#headerFill, chunk.length - off);
      chunk.copy(this.#header, this.#headerFill, off, off + take);
      this.#headerFill += take;
      off += take;
      if (this.#headerFill === 512) {
        this.#headerFill = 0;
        this.#onHeader();
      }
    }
  }

  #onHeader(): void {
    const h = this.#header;
    if (h.every((b) => b === 0)) return; // end-of-archive blocks
    const type = String.fromCharCode(h[156] ?? 0);
    let size = parseSize(h.subarray(124, 136));
    if (type === 'x' || type === 'g' || type === 'L' || type === 'K' || type === 'N') {
      // Only per-entry PAX is kept; global PAX xattrs are not something layers use.
      this.#collecting = type === 'x' && size > 0 ? [] : undefined;
    } else {
      if (this.#pendingSize !== undefined) size = this.#pendingSize;
      this.entries.push(this.#pending);
      this.#pending = undefined;
      this.#pendingSize = undefined;
      // Mirror tar-stream: every entry but a directory is followed by `size` data bytes. Old archives mark
      // directories as type 0 with a trailing slash.
      const nameEnd = h.indexOf(0);
      const name = h.toString('latin1', 0, nameEnd === -1 || nameEnd > 100 ? 100 : nameEnd);
      const directory = type === '5' || ((type === '0' || type === '\0') && name.endsWith('/'));
      if (directory) size = 0;
    }
    this.#remaining = size;
    this.#padding = (512 - (size % 512)) % 512;
  }
}

function parseSize(field: Buffer): number {
  if ((field[0] ?? 0) & 0x80) {
    // base-256 for sizes over 8 GiB
    let value = 0;
    for (let i = 1; i < field.length; i++) value = value * 256 + (field[i] ?? 0);
    return value;
  }
  const text = field
    .toString('latin1')
    .replace(/[\0 ]+$/g, '')
    .trim();
  return text ? Number.parseInt(text, 8) : 0;
}

function* paxRecords(data: Buffer): Generator<{ key: string; value: Buffer }> {
  let off = 0;
  while (off < data.length) {
    const space = data.indexOf(0x20, off);
    if (space === -1) return;
    const length = Number.parseInt(data.toString('latin1', off, space), 10);
    if (!length || off + length > data.length) return;
    const record = data.subarray(space + 1, off + length - 1); // drop the trailing newline
    const eq = record.indexOf(0x3d);
    if (eq !== -1) yield { key: record.toString('utf8', 0, eq), value: Buffer.from(record.subarray(eq + 1)) };
    off += length;
  }
}

function parsePaxXattrs(
  data: Buffer,
  into: Map<string, Buffer> | undefined,
): Map<string, Buffer> | undefined {
  let out = into;
  for (const { key, value } of paxRecords(data)) {
    if (!key.startsWith('SCHILY.xattr.')) continue;
    out ??= new Map();
    out.set(key.slice('SCHILY.xattr.'.length), value);
  }
  return out;
}

function paxSize(data: Buffer): number | undefined {
  for (const { key, value } of paxRecords(data))
    if (key === 'size') return Number.parseInt(value.toString(), 10);
  return undefined;
}
