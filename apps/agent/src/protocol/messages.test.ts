import { describe, expect, it } from 'vitest';
import {
  agentFrameSchema,
  challengePayload,
  PROTOCOL_VERSION,
  ProtocolError,
  parseFrame,
  protocolCompatibility,
  RECONNECT,
  reconnectDelay,
  serverFrameSchema,
} from './messages';

describe('agent protocol frames', () => {
  it('parses a hello and a command request', () => {
    const hello = parseFrame(
      agentFrameSchema,
      JSON.stringify({
        type: 'hello',
        protocolVersion: PROTOCOL_VERSION,
        agentVersion: '0.1.0',
        hostId: 'h1',
      }),
    );
    expect(hello.type).toBe('hello');
    const request = parseFrame(
      serverFrameSchema,
      JSON.stringify({
        type: 'request',
        requestId: 'r1',
        command: { kind: 'container.remove', containerId: 'c1' },
      }),
    );
    expect(request).toMatchObject({ command: { kind: 'container.remove', force: false } });
  });

  it('rejects non-JSON, unknown types and oversized frames with ProtocolError', () => {
    expect(() => parseFrame(agentFrameSchema, '{nope')).toThrow(ProtocolError);
    expect(() => parseFrame(agentFrameSchema, JSON.stringify({ type: 'launch-missiles' }))).toThrow(
      ProtocolError,
    );
    expect(() => parseFrame(agentFrameSchema, 'x'.repeat(4 * 1024 * 1024 + 1))).toThrow(/4 MiB/);
  });

  it('binds a challenge signature to host and nonce', () => {
    expect(challengePayload('n1', 'h1').equals(challengePayload('n1', 'h2'))).toBe(false);
    expect(challengePayload('n1', 'h1').equals(challengePayload('n2', 'h1'))).toBe(false);
  });

  it('classifies protocol versions', () => {
    expect(protocolCompatibility(PROTOCOL_VERSION)).toBe('current');
    expect(protocolCompatibility(PROTOCOL_VERSION + 1)).toBe('unsupported');
    expect(protocolCompatibility(0)).toBe('unsupported');
    expect(protocolCompatibility(1)).toBe('update_available');
  });

  it('reads a version 1 server frame (no byte window) and a version 2 one', () => {
    const v1 = parseFrame(
      serverFrameSchema,
      JSON.stringify({ type: 'stream.credit', streamId: 's', credit: 32 }),
    );
    expect(v1).toEqual({ type: 'stream.credit', streamId: 's', credit: 32 });
    const v2 = parseFrame(
      serverFrameSchema,
      JSON.stringify({ type: 'stream.credit', streamId: 's', credit: 1, bytes: 4096 }),
    );
    expect(v2).toMatchObject({ bytes: 4096 });
    // Signatures of a version 1 agent are checked against its own version's payload.
    expect(challengePayload('n', 'h', 1).toString()).toBe('berth-agent-auth:v1:h:n');
  });

  it('backs off with full jitter up to the cap', () => {
    expect(reconnectDelay(0, () => 0.999)).toBeLessThan(RECONNECT.baseMs);
    expect(reconnectDelay(30, () => 0.999)).toBeLessThanOrEqual(RECONNECT.maxMs);
    expect(reconnectDelay(3, () => 0)).toBe(0);
  });
});
