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

/**
 * At most one event per this many milliseconds: a lone change goes out at once, a burst (a bulk restart)
 * as one more event at the end of the window.
 */
const coalesceMs = 200;
const heartbeatMs = 25_000;

export function fleetChangeStream(teamId: string, signal: AbortSignal): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let pending: NodeJS.Timeout | undefined;
  let lastSent = 0;
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
      const send = () => {
        pending = undefined;
        lastSent = Date.now();
        write('event: change\ndata: {}\n\n');
      };
      listener = (changed) => {
        if (changed !== teamId || pending) return;
        const wait = lastSent + coalesceMs - Date.now();
        if (wait <= 0) send();
        else pending = setTimeout(send, wait);
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
