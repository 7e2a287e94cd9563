import { describe, expect, it } from 'vitest';
import { EngineError } from './errors';

describe('EngineError', () => {
  it('carries a code and is recognised by code', () => {
    const error = new EngineError('not_found', 'No such image: docker.io/library/nope:latest');
    expect(EngineError.is(error)).toBe(true);
    expect(EngineError.is(error, 'not_found')).toBe(true);
    expect(EngineError.is(error, 'conflict')).toBe(false);
    expect(EngineError.is(new Error('plain'))).toBe(false);
    expect(error.message).toContain('docker.io/library/nope');
  });
});
