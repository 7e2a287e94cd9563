import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EngineError } from '../errors';
import { parseChallenge } from './registry';
import { chainIds, parsePlatform } from './store';

describe('parseChallenge', () => {
  it('reads Bearer realm, service and scope as registries send them', () => {
    expect(
      parseChallenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
      ),
    ).toEqual({
      scheme: 'bearer',
      realm: 'https://auth.docker.io/token',
      service: 'registry.docker.io',
      scope: 'repository:library/busybox:pull',
    });
  });
  it('reads Basic, and ignores what it cannot use', () => {
    expect(parseChallenge('Basic realm="Registry Realm"')).toEqual({ scheme: 'basic' });
    expect(parseChallenge('Bearer service="x"')).toBeUndefined();
    expect(parseChallenge('Negotiate abc')).toBeUndefined();
    expect(parseChallenge(null)).toBeUndefined();
  });
});

describe('parsePlatform', () => {
  it('defaults to linux/amd64 and reads os/arch/variant', () => {
    expect(parsePlatform(undefined)).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(parsePlatform('linux/arm64/v8')).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(parsePlatform({ architecture: 'arm64' })).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(() => parsePlatform('linux')).toThrow(EngineError);
  });
});

describe('chainIds', () => {
  it('hashes "parent diffID" as the OCI image spec defines', () => {
    const a = `sha256:${'a'.repeat(64)}`;
    const b = `sha256:${'b'.repeat(64)}`;
    const [first, second] = chainIds([a, b]);
    expect(first).toBe(a);
    expect(second).toBe(`sha256:${createHash('sha256').update(`${a} ${b}`).digest('hex')}`);
  });
});
