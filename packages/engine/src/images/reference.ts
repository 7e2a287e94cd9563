import { EngineError } from '../errors';

/**
 * Image references parsed the way Docker's distribution/reference package does: a missing domain means
 * Docker Hub, a one-component Hub name lives under `library/`, and a name with neither tag nor digest means
 * `:latest`.
 */
export interface ImageReference {
  domain: string; // docker.io, 127.0.0.1:5000, registry.example.com
  path: string; // library/busybox, team/app
  tag?: string;
  digest?: string; // sha256:<hex>
}

export const defaultDomain = 'docker.io';
const legacyDomain = 'index.docker.io';

const alnum = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alnum}(?:${separator}${alnum})*`;
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const ipv6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainRe = new RegExp(`^(?:${domainComponent}(?:\\.${domainComponent})*|${ipv6})(?::[0-9]+)?$`);
const pathRe = new RegExp(`^${pathComponent}(?:/${pathComponent})*$`);
const tagRe = /^[\w][\w.-]{0,127}$/;
const digestRe = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const sha256Re = /^sha256:[0-9a-f]{64}$/;
const hex64Re = /^[0-9a-f]{64}$/;
const maxNameLength = 255;

function invalid(input: string, why: string): EngineError {
  return new EngineError('invalid_argument', `invalid reference format "${input}": ${why}`);
}

/** Parses what a user typed (`busybox`, `host:5000/ns/app:1.0`, `app@sha256:…`) into a full reference. */
export function parseReference(input: string): ImageReference {
  if (input === '') throw invalid(input, 'empty');
  if (hex64Re.test(input)) throw invalid(input, 'cannot specify 64-byte hexadecimal strings');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!digestRe.test(digest)) throw invalid(input, 'invalid digest');
    if (digest.startsWith('sha256:') && !sha256Re.test(digest)) throw invalid(input, 'invalid sha256 digest');
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!tagRe.test(tag)) throw invalid(input, 'invalid tag');
  }
  if (rest === '') throw invalid(input, 'missing repository name');
  if (rest.length > maxNameLength) throw invalid(input, `repository name longer than ${maxNameLength}`);

  let domain = defaultDomain;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash !== -1) {
    const first = rest.slice(0, slash);
    if (
      first.includes('.') ||
      first.includes(':') ||
      first === 'localhost' ||
      first.toLowerCase() !== first
    ) {
      domain = first;
      path = rest.slice(slash + 1);
    }
  }
  if (!domainRe.test(domain)) throw invalid(input, 'invalid domain');
  if (path.toLowerCase() !== path && pathRe.test(path.toLowerCase()))
    throw invalid(input, 'repository name must be lowercase');
  if (!pathRe.test(path)) throw invalid(input, 'invalid repository name');
  if (domain === legacyDomain) domain = defaultDomain;
  if (domain === defaultDomain && !path.includes('/')) path = `library/${path}`;
  const ref: ImageReference = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  if (tag === undefined && digest === undefined) ref.tag = 'latest';
  return ref;
}

/** `docker.io/library/busybox` — the repository's canonical name. */
export function repositoryName(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The canonical string: `docker.io/library/busybox:latest`, `host:5000/a@sha256:…`. */
export function formatReference(ref: ImageReference): string {
  let out = repositoryName(ref);
  if (ref.tag !== undefined) out += `:${ref.tag}`;
  if (ref.digest !== undefined) out += `@${ref.digest}`;
  return out;
}

/** The repository as Docker displays it: `busybox`, `team/app`, `host:5000/app`. */
export function familiarName(ref: Pick<ImageReference, 'domain' | 'path'>): string {
  if (ref.domain !== defaultDomain) return `${ref.domain}/${ref.path}`;
  return ref.path.startsWith('library/') && ref.path.indexOf('/', 8) === -1 ? ref.path.slice(8) : ref.path;
}

/** The reference as Docker displays it: `busybox:latest`, `host:5000/app@sha256:…`. */
export function familiarString(ref: ImageReference): string {
  let out = familiarName(ref);
  if (ref.tag !== undefined) out += `:${ref.tag}`;
  if (ref.digest !== undefined) out += `@${ref.digest}`;
  return out;
}

export function isSha256Digest(value: string): boolean {
  return sha256Re.test(value);
}
