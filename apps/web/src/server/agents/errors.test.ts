import { describe, expect, it } from 'vitest';
import { AgentUnavailableError, isAgentCommandError, isAgentUnavailable } from './gateway';

describe('agent errors across module copies', () => {
  it('are recognised by name: the production build holds two copies of the gateway module', () => {
    // What the other copy's class looks like from here: same name and fields, another class object.
    class OtherCopyUnavailable extends Error {
      override readonly name = 'AgentUnavailableError';
      readonly reason = 'offline';
    }
    const foreign = new OtherCopyUnavailable('the host is offline');
    expect(foreign instanceof AgentUnavailableError).toBe(false);
    expect(isAgentUnavailable(foreign)).toBe(true);
    expect(isAgentCommandError(foreign)).toBe(false);
    expect(isAgentUnavailable(new Error('the host is offline'))).toBe(false);
  });
});
