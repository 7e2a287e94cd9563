import { describe, expect, it } from 'vitest';
import { ApiError } from './errors';
import { parseVersionedPath, Router } from './router';

describe('Docker API router', () => {
  const router = new Router<string>()
    .add('GET', '/images/{name*}/json', 'inspect')
    .add('DELETE', '/images/{name*}', 'remove')
    .add('POST', '/containers/{id}/start', 'start')
    .add('GET', '/_ping', 'ping');

  it('matches image names with slashes and a registry host:port', () => {
    expect(router.match('GET', '/images/127.0.0.1:5000/team/app:v1/json')).toEqual({
      handler: 'inspect',
      params: { name: '127.0.0.1:5000/team/app:v1' },
    });
    expect(router.match('DELETE', '/images/localhost:5000/a/b@sha256:abc')?.params.name).toBe(
      'localhost:5000/a/b@sha256:abc',
    );
  });

  it('decodes escaped segments and keeps single segments to one path component', () => {
    expect(router.match('POST', '/containers/my%20name/start')?.params.id).toBe('my name');
    expect(router.match('POST', '/containers/a/b/start')).toBeUndefined();
  });

  it('answers HEAD with the GET route', () => {
    expect(router.match('HEAD', '/_ping')?.handler).toBe('ping');
    expect(router.match('POST', '/_ping')).toBeUndefined();
  });

  it('splits versioned paths and refuses versions outside 1.12..1.41 with dockerd wording', () => {
    expect(parseVersionedPath('/v1.41/containers/json')).toEqual({
      version: '1.41',
      path: '/containers/json',
    });
    expect(parseVersionedPath('/v1.24/info')).toEqual({ version: '1.24', path: '/info' });
    expect(parseVersionedPath('/info')).toEqual({ version: '1.41', path: '/info' });
    expect(() => parseVersionedPath('/v1.50/info')).toThrow(
      new ApiError(400, 'client version 1.50 is too new. Maximum supported API version is 1.41'),
    );
    expect(() => parseVersionedPath('/v1.11/info')).toThrow(/too old. Minimum supported API version is 1.12/);
  });
});

describe('Docker API router: hostile paths', () => {
  it('answers a broken percent-escape with 400 instead of throwing URIError', () => {
    const router = new Router<string>().add('GET', '/containers/{id}/json', 'inspect');
    expect(() => router.match('GET', '/containers/%E0%A4%A/json')).toThrow(ApiError);
  });
});
