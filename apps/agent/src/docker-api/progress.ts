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

  constructor(ctx: RequestContext) {
    this.#ctx = ctx;
  }

  get started(): boolean {
    return this.#stream !== undefined;
  }

  write(message: unknown): void {
    this.#stream ??= startJsonStream(this.#ctx, '\r\n');
    void this.#stream.write(message);
  }

  /** Runs `work`; failures before the first message propagate, later ones end the stream in-band. */
  async run(work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      if (!this.#stream) throw error;
      const { message, unexpected } = mapError(error);
      if (unexpected) this.#ctx.log.error({ err: error }, 'stream failed');
      this.write({ errorDetail: { message }, error: message });
    }
    this.#stream?.end();
  }
}
