import { describe, expect, it } from 'vitest';
import { credentialsOf, decodeRegistryAuth } from './auth';

describe('X-Registry-Auth', () => {
  it('decodes the URL-safe base64 JSON the docker CLI sends', () => {
    const json = JSON.stringify({
      username: 'bt-api-user',
      password: 'p>?~/+x',
      serveraddress: '127.0.0.1:5000',
    });
    const header = Buffer.from(json).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
    const config = decodeRegistryAuth(header);
    expect(config?.serveraddress).toBe('127.0.0.1:5000');
    expect(credentialsOf(config)).toEqual({ username: 'bt-api-user', password: 'p>?~/+x' });
  });

  it('takes the legacy `auth` field (base64 user:password)', () => {
    const auth = Buffer.from('alice:s3:cret').toString('base64');
    expect(credentialsOf({ auth })).toEqual({ username: 'alice', password: 's3:cret' });
  });

  it('treats garbage and empty configs as anonymous', () => {
    expect(decodeRegistryAuth('%%%not-base64')).toBeUndefined();
    expect(decodeRegistryAuth(Buffer.from('[1,2]').toString('base64url'))).toBeUndefined();
    expect(credentialsOf(decodeRegistryAuth(Buffer.from('{}').toString('base64url')))).toBeUndefined();
  });
});
