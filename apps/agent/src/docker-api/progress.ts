/**
 * Progress streams (pull, push) as dockerd writes them: nothing is sent until the first message, so a failure
 * before any progress is an ordinary HTTP error the CLI prints as "Error response from daemon"; after that,
 * a late failure travels in-band as `{"errorDetail":{"message":…},"error":…}`.
 */
import { type JsonStream, type RequestContext, startJsonStream } from './context';
import { mapError } from './errors';

export class ProgressStream {
  readonly #ctx: RequestContext;
  #stream: JsonStream | undefined;
  #held: unknown[] = [];
  #hold: number;

  /**
   * `hold` messages are kept back before the stream starts: the engine announces a pull ("Pulling from …")
   * before it resolved the manifest, where dockerd has not written anything yet, so a missing tag must still
   * be able to fail with a plain 404.
   */
  constructor(ctx: RequestContext, options: { hold?: number } = {}) {
    this.#ctx = ctx;
    this.#hold = options.hold ?? 0;
  }

  get started(): boolean {
    return this.#stream !== undefined;
  }

  write(message: unknown): void {
    if (!this.#stream && this.#held.length < this.#hold) {
      this.#held.push(message);
      return;
    }
    this.#flushHeld();
    void this.#stream?.write(message);
  }

  #flushHeld(): void {
    this.#stream ??= startJsonStream(this.#ctx, '\r\n');
    for (const held of this.#held.splice(0)) void this.#stream.write(held);
  }

  /** Runs `work`; failures before the first message propagate, later ones end the stream in-band. */
  async run(work: () => Promise<void>): Promise<void> {
    try {
      await work();
      if (this.#held.length) this.#flushHeld();
    } catch (error) {
      if (!this.#stream) throw error;
      const { message, unexpected } = mapError(error);
      if (unexpected) this.#ctx.log.error({ err: error }, 'stream failed');
      this.write({ errorDetail: { message }, error: message });
    }
    this.#stream?.end();
  }
}
