import { describe, expect, it } from 'vitest';
import { actionsFor } from './actions';

describe('container actions by state', () => {
  it('offers what Docker allows in each state', () => {
    expect(actionsFor('running')).toEqual(['stop', 'restart', 'kill', 'pause', 'remove']);
    expect(actionsFor('paused')).toEqual(['unpause', 'stop', 'kill', 'remove']);
    expect(actionsFor('restarting')).toEqual(['stop', 'kill', 'remove']);
    for (const state of ['exited', 'created', 'dead']) expect(actionsFor(state)).toEqual(['start', 'remove']);
  });
});
