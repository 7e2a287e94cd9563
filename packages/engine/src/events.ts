/**
 * The engine's event stream, shaped like the Docker Engine API's `/events` messages so the Docker API
 * transport and the agent protocol can pass them on without remapping.
 */
export type EngineEventType = 'container' | 'image' | 'volume' | 'network';

export interface EngineEvent {
  Type: EngineEventType;
  Action: string; // create, start, die, stop, kill, destroy, pause, unpause, oom, exec_start, pull, delete, tag, connect…
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number; // seconds since the epoch
  timeNano: number;
}

export interface EventFilter {
  type?: EngineEventType[];
  action?: string[];
  id?: string[]; // matches Actor.ID or Actor.Attributes.name
  label?: string[]; // `key` or `key=value`, matched against Actor.Attributes
}

type Listener = (event: EngineEvent) => void;

export function matchesEventFilter(event: EngineEvent, filter: EventFilter): boolean {
  if (filter.type?.length && !filter.type.includes(event.Type)) return false;
  if (
    filter.action?.length &&
    !filter.action.some((a) => event.Action === a || event.Action.startsWith(`${a}:`))
  )
    return false;
  if (filter.id?.length) {
    const names = [event.Actor.ID, event.Actor.Attributes.name, event.Actor.Attributes.image].filter(Boolean);
    if (!filter.id.some((id) => names.some((n) => n === id || (id.length >= 3 && n?.startsWith(id)))))
      return false;
  }
  if (filter.label?.length) {
    for (const label of filter.label) {
      const eq = label.indexOf('=');
      const key = eq === -1 ? label : label.slice(0, eq);
      const value = event.Actor.Attributes[key];
      if (value === undefined || (eq !== -1 && value !== label.slice(eq + 1))) return false;
    }
  }
  return true;
}

export class EventBus {
  readonly #listeners = new Set<Listener>();
  readonly #recent: EngineEvent[] = [];
  readonly #keep: number;
  readonly #now: () => number;

  constructor(options: { keep?: number; now?: () => number } = {}) {
    this.#keep = options.keep ?? 1024;
    this.#now = options.now ?? (() => Date.now());
  }

  emit(
    type: EngineEventType,
    action: string,
    id: string,
    attributes: Record<string, string> = {},
  ): EngineEvent {
    const ms = this.#now();
    const event: EngineEvent = {
      Type: type,
      Action: action,
      Actor: { ID: id, Attributes: attributes },
      scope: 'local',
      time: Math.floor(ms / 1000),
      timeNano: ms * 1_000_000,
    };
    this.#recent.push(event);
    if (this.#recent.length > this.#keep) this.#recent.shift();
    for (const listener of this.#listeners) listener(event);
    return event;
  }

  /** Events already emitted with `time >= since` (seconds), for `docker events --since`. */
  history(since: number, filter: EventFilter = {}): EngineEvent[] {
    return this.#recent.filter((e) => e.time >= since && matchesEventFilter(e, filter));
  }

  on(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** An async stream of events until `signal` aborts. Buffers between reads; the reader sets the pace. */
  async *subscribe(filter: EventFilter = {}, signal?: AbortSignal): AsyncGenerator<EngineEvent> {
    const queue: EngineEvent[] = [];
    let wake: (() => void) | undefined;
    const off = this.on((event) => {
      if (!matchesEventFilter(event, filter)) return;
      queue.push(event);
      wake?.();
    });
    const onAbort = () => wake?.();
    signal?.addEventListener('abort', onAbort);
    try {
      while (!signal?.aborted) {
        const next = queue.shift();
        if (next) {
          yield next;
          continue;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    } finally {
      off();
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
