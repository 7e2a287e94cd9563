import { describe, expect, it } from 'vitest';
import { EventBus, matchesEventFilter } from './events';

describe('EventBus', () => {
  it('delivers matching events to subscribers until aborted', async () => {
    const bus = new EventBus({ now: () => 1_700_000_000_000 });
    const controller = new AbortController();
    const seen: string[] = [];
    const reading = (async () => {
      for await (const event of bus.subscribe({ type: ['container'] }, controller.signal)) {
        seen.push(`${event.Action}:${event.Actor.ID}`);
        if (seen.length === 2) controller.abort();
      }
    })();
    await Promise.resolve();
    bus.emit('image', 'pull', 'busybox:latest');
    bus.emit('container', 'create', 'abc', { name: 'web' });
    bus.emit('container', 'start', 'abc', { name: 'web' });
    await reading;
    expect(seen).toEqual(['create:abc', 'start:abc']);
    expect(bus.history(1_700_000_000, { type: ['image'] })).toHaveLength(1);
  });

  it('filters by label, name and action prefix', () => {
    const bus = new EventBus();
    const event = bus.emit('container', 'exec_start: sh', 'abcdef', { name: 'web', tier: 'front' });
    expect(matchesEventFilter(event, { label: ['tier=front'] })).toBe(true);
    expect(matchesEventFilter(event, { label: ['tier=back'] })).toBe(false);
    expect(matchesEventFilter(event, { id: ['web'] })).toBe(true);
    expect(matchesEventFilter(event, { action: ['exec_start'] })).toBe(true);
  });
});
