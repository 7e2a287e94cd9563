/**
 * "This team's fleet changed", pushed to the team's open pages as server-sent events so they refetch at once
 * instead of on their next poll. The gateway reports changes (on this instance, or on another through the
 * bus); one emitter per process, on globalThis, because the custom server and Next's bundle each load their
 * own copy of this module.
 */
import { EventEmitter } from 'node:events';

const holder = globalThis as unknown as { berthFleetEvents?: EventEmitter };

export function fleetEvents(): EventEmitter {
  if (!holder.berthFleetEvents) {
    holder.berthFleetEvents = new EventEmitter();
    // One listener per open page: hundreds are normal.
    holder.berthFleetEvents.setMaxListeners(0);
  }
  return holder.berthFleetEvents;
}

/** A burst of changes (a bulk restart) becomes one event per this many milliseconds. */
const coalesceMs = 200;
const heartbeatMs = 25_000;

export function fleetChangeStream(teamId: string, signal: AbortSignal): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let pending: NodeJS.Timeout | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let listener: ((changed: string) => void) | undefined;
  const stop = () => {
    if (listener) fleetEvents().off('change', listener);
    clearTimeout(pending);
    clearInterval(heartbeat);
  };
  return new ReadableStream<Uint8Array>({
    start(controller) {
      const write = (text: string) => {
        try {
          controller.enqueue(encoder.encode(text));
        } catch {
          stop();
        }
      };
      write(': open\n\n');
      listener = (changed) => {
        if (changed !== teamId || pending) return;
        pending = setTimeout(() => {
          pending = undefined;
          write('event: change\ndata: {}\n\n');
        }, coalesceMs);
      };
      fleetEvents().on('change', listener);
      heartbeat = setInterval(() => write(': ping\n\n'), heartbeatMs);
      signal.addEventListener(
        'abort',
        () => {
          stop();
          try {
            controller.close();
          } catch {}
        },
        { once: true },
      );
    },
    cancel: stop,
  });
}
