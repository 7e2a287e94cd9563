/**
 * Docker's multiplexed stdio framing ("stdcopy"): each frame is an 8-byte header — stream id (0 stdin,
 * 1 stdout, 2 stderr, 3 system error), three zero bytes, big-endian uint32 payload length — then the payload.
 * Non-TTY attach, exec and logs use it; TTY streams are raw.
 */
export type StdStream = 'stdin' | 'stdout' | 'stderr' | 'system';

const streamIds: Record<StdStream, number> = { stdin: 0, stdout: 1, stderr: 2, system: 3 };
const maxFrame = 0xffff_ffff;

export function frameHeader(stream: StdStream, length: number): Buffer {
  if (!Number.isInteger(length) || length < 0 || length > maxFrame) throw new RangeError('frame too large');
  const header = Buffer.alloc(8);
  header[0] = streamIds[stream];
  header.writeUInt32BE(length, 4);
  return header;
}

export function frame(stream: StdStream, payload: Buffer): Buffer {
  return Buffer.concat([frameHeader(stream, payload.length), payload]);
}

/** Incremental decoder for the same framing, for tests and for clients reading a multiplexed stream. */
export class FrameDecoder {
  #pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Array<{ stream: StdStream; payload: Buffer }> {
    this.#pending = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
    const frames: Array<{ stream: StdStream; payload: Buffer }> = [];
    while (this.#pending.length >= 8) {
      const id = this.#pending[0];
      const length = this.#pending.readUInt32BE(4);
      if (this.#pending.length < 8 + length) break;
      const stream = (Object.keys(streamIds) as StdStream[]).find((s) => streamIds[s] === id);
      if (!stream) throw new Error(`bad stream id ${id}`);
      frames.push({ stream, payload: this.#pending.subarray(8, 8 + length) });
      this.#pending = this.#pending.subarray(8 + length);
    }
    return frames;
  }

  get buffered(): number {
    return this.#pending.length;
  }
}
