import { EngineError } from '@berth/engine';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ApiError, mapError } from './errors';

describe('error mapping', () => {
  it('maps engine codes to the statuses dockerd uses for the same failures', () => {
    expect(mapError(new EngineError('not_found', 'No such container: x'))).toEqual({
      status: 404,
      message: 'No such container: x',
      unexpected: false,
    });
    expect(mapError(new EngineError('conflict', 'name in use')).status).toBe(409);
    expect(mapError(new EngineError('invalid_argument', 'bad')).status).toBe(400);
    expect(mapError(new EngineError('not_modified', 'already started')).status).toBe(304);
    expect(mapError(new EngineError('unauthorized', 'denied')).status).toBe(401);
    expect(mapError(new EngineError('failed', 'runc said no'))).toMatchObject({
      status: 500,
      unexpected: true,
    });
  });

  it('answers zod failures with 400 naming the field', () => {
    const result = z.object({ Image: z.string() }).safeParse({ Image: 3 });
    expect(result.success).toBe(false);
    if (!result.success) expect(mapError(result.error)).toMatchObject({ status: 400, message: /Image/ });
  });

  it('never leaks the message of an unexpected error', () => {
    expect(mapError(new Error('secret path /root/.x'))).toEqual({
      status: 500,
      message: 'internal server error',
      unexpected: true,
    });
    expect(mapError(new ApiError(413, 'too big')).status).toBe(413);
  });
});
