/**
 * What the log viewer holds: the newest `capacity` lines in time order (the oldest dropped and counted), and
 * the view of them a filter leaves. Kept apart from React so a burst of lines costs one pass, not one render.
 */

export interface LogLine {
  /** Arrival number: a stable key for rendering. */
  id: number;
  /** Index of the container in the stream's `sources`. */
  source: number;
  stream: 'stdout' | 'stderr';
  /** The line without its newline. */
  text: string;
  /** RFC 3339 with nanoseconds, as the agent stamped it; '' when the agent gave none. */
  time: string;
}

export type LineFilter = (line: LogLine) => boolean;

/** Case-insensitive substring, or a regular expression; an invalid expression is reported, not thrown. */
export function makeFilter(
  text: string,
  regex: boolean,
): { filter: LineFilter | undefined; error: string | undefined } {
  if (!text) return { filter: undefined, error: undefined };
  if (regex) {
    try {
      const pattern = new RegExp(text, 'i');
      return { filter: (line) => pattern.test(line.text), error: undefined };
    } catch (error) {
      return { filter: undefined, error: (error as Error).message };
    }
  }
  const needle = text.toLowerCase();
  return { filter: (line) => line.text.toLowerCase().includes(needle), error: undefined };
}

export class LogBuffer {
  #lines: LogLine[] = [];
  #visible: LogLine[] = [];
  #filter: LineFilter | undefined;
  #dropped = 0;

  constructor(readonly capacity = 50_000) {}

  get size(): number {
    return this.#lines.length;
  }

  /** Lines dropped from the front to stay within capacity. */
  get dropped(): number {
    return this.#dropped;
  }

  /** The lines the filter keeps, oldest first. */
  get visible(): readonly LogLine[] {
    return this.#visible;
  }

  get all(): readonly LogLine[] {
    return this.#lines;
  }

  setFilter(filter: LineFilter | undefined): void {
    this.#filter = filter;
    this.#visible = filter ? this.#lines.filter(filter) : this.#lines;
  }

  /**
   * Adds lines. The server sends a merged stream in time order already, so this is almost always an append;
   * a line older than the newest held is put in its place.
   */
  add(lines: readonly LogLine[]): void {
    let resorted = false;
    for (const line of lines) {
      const last = this.#lines.at(-1);
      if (!last || last.time <= line.time || !line.time) {
        this.#lines.push(line);
        continue;
      }
      let low = 0;
      let high = this.#lines.length;
      while (low < high) {
        const mid = (low + high) >>> 1;
        if ((this.#lines[mid] as LogLine).time <= line.time) low = mid + 1;
        else high = mid;
      }
      this.#lines.splice(low, 0, line);
      resorted = true;
    }
    // Trimmed in steps of a tenth, so dropping costs one copy per many lines, not one per line.
    const over = this.#lines.length - this.capacity;
    if (over > 0) {
      const cut = Math.min(this.#lines.length, Math.max(over, Math.floor(this.capacity / 10)));
      this.#lines = this.#lines.slice(cut);
      this.#dropped += cut;
      resorted = true;
    }
    if (!this.#filter) this.#visible = this.#lines;
    else if (resorted) this.#visible = this.#lines.filter(this.#filter);
    else for (const line of lines) if (this.#filter(line)) (this.#visible as LogLine[]).push(line);
  }

  clear(): void {
    this.#lines = [];
    this.#visible = [];
    this.#dropped = 0;
  }
}

/** `2026-11-23T07:30:00.123456789Z` → `2026-11-23 07:30:00.123` (local display keeps the UTC the agent gave). */
export function shortTime(time: string): string {
  return time ? `${time.slice(0, 10)} ${time.slice(11, 23)}` : '';
}

/** The loaded lines as a .log file's text: timestamp, container (when several), stream, line. */
export function logFileText(lines: readonly LogLine[], sourceNames: readonly string[]): string {
  const merged = sourceNames.length > 1;
  return lines
    .map((line) =>
      [line.time, ...(merged ? [sourceNames[line.source] ?? '?'] : []), line.stream, line.text].join(' '),
    )
    .join('\n')
    .concat(lines.length ? '\n' : '');
}
