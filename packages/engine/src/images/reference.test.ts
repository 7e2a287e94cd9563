import { describe, expect, it } from 'vitest';
import { EngineError } from '../errors';
import { familiarString, formatReference, parseReference } from './reference';

const hex = 'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff';

// Cases from Docker's distribution/reference normalize_test.go and reference_test.go.
describe('parseReference', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['docker/docker', 'docker.io/docker/docker:latest', 'docker/docker:latest'],
    ['library/debian', 'docker.io/library/debian:latest', 'debian:latest'],
    ['docker.io/debian', 'docker.io/library/debian:latest', 'debian:latest'],
    ['index.docker.io/docker/docker', 'docker.io/docker/docker:latest', 'docker/docker:latest'],
    ['docker.io/library/foo/bar', 'docker.io/library/foo/bar:latest', 'library/foo/bar:latest'],
    ['localhost/library/debian', 'localhost/library/debian:latest', 'localhost/library/debian:latest'],
    ['localhost:5000/debian', 'localhost:5000/debian:latest', 'localhost:5000/debian:latest'],
    [
      '127.0.0.1:5000/library/debian',
      '127.0.0.1:5000/library/debian:latest',
      '127.0.0.1:5000/library/debian:latest',
    ],
    ['example.com/debian:8', 'example.com/debian:8', 'example.com/debian:8'],
    [
      'sub-dom1.foo.com/bar/baz/quux:some-long-tag',
      'sub-dom1.foo.com/bar/baz/quux:some-long-tag',
      'sub-dom1.foo.com/bar/baz/quux:some-long-tag',
    ],
    ['foo_bar.com:8080', 'docker.io/library/foo_bar.com:8080', 'foo_bar.com:8080'],
    ['foo/foo_bar.com:8080', 'docker.io/foo/foo_bar.com:8080', 'foo/foo_bar.com:8080'],
    ['a:b', 'docker.io/library/a:b', 'a:b'],
    ['xn--n3h.com/myimage:xn--n3h.com', 'xn--n3h.com/myimage:xn--n3h.com', 'xn--n3h.com/myimage:xn--n3h.com'],
    ['Uppercase.Domain.com/lower', 'Uppercase.Domain.com/lower:latest', 'Uppercase.Domain.com/lower:latest'],
    ['[2001:db8::1]:5000/repo', '[2001:db8::1]:5000/repo:latest', '[2001:db8::1]:5000/repo:latest'],
    [`test:5000/repo@sha256:${hex}`, `test:5000/repo@sha256:${hex}`, `test:5000/repo@sha256:${hex}`],
    [
      `test:5000/repo:tag@sha256:${hex}`,
      `test:5000/repo:tag@sha256:${hex}`,
      `test:5000/repo:tag@sha256:${hex}`,
    ],
    [`busybox@sha256:${hex}`, `docker.io/library/busybox@sha256:${hex}`, `busybox@sha256:${hex}`],
    ['a__b/c--d.e-f_g:tag', 'docker.io/a__b/c--d.e-f_g:tag', 'a__b/c--d.e-f_g:tag'],
  ])('%s -> %s', (input, canonical, familiar) => {
    const ref = parseReference(input);
    expect(formatReference(ref)).toBe(canonical);
    expect(familiarString(ref)).toBe(familiar);
  });

  it.each([
    [''],
    [':justtag'],
    [`@sha256:${hex}`],
    ['docker/Docker'],
    ['docker.io/docker/Docker'],
    ['docker///docker'],
    ['-docker'],
    ['docker-/docker'],
    ['a_/b'],
    ['aa/asdf$$^/aa'],
    ['busybox:'],
    [`busybox:${'a'.repeat(129)}`],
    ['validname@invaliddigest:ecb45b9de'],
    ['repo@sha256:ffff'],
    [hex],
    ['[fe80::1%eth0]:5000/ab'],
    [`${'a/'.repeat(128)}a:tag`],
    ['Foo:latest'],
    ['a..b/c'],
  ])('rejects %j as invalid_argument', (input) => {
    let thrown: unknown;
    try {
      parseReference(input);
    } catch (error) {
      thrown = error;
    }
    expect(EngineError.is(thrown, 'invalid_argument')).toBe(true);
    expect((thrown as Error).message).toContain('invalid reference format');
  });

  it('keeps tag and digest apart so a pull can go by digest', () => {
    expect(parseReference(`127.0.0.1:5000/app:1.0@sha256:${hex}`)).toEqual({
      domain: '127.0.0.1:5000',
      path: 'app',
      tag: '1.0',
      digest: `sha256:${hex}`,
    });
  });
});
