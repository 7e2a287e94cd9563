import { type ChildProcess, spawn } from 'node:child_process';
import { createPrivateKey, createSign, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTool } from '../images/unpack';

export interface StartedRegistry extends AsyncDisposable {
  /** `127.0.0.1:PORT`, the domain part of image references. */
  host: string;
  url: string;
  rootDirectory: string;
  /** Token requests the issuer answered (auth 'token' only), for tests of the token cache. */
  tokenRequests: () => number;
  stop(): Promise<void>;
}

export interface RegistryFixtureOptions {
  auth?: 'none' | 'htpasswd' | 'token';
  users?: Record<string, string>;
  /** With auth 'token': whether a client without credentials gets pull access. */
  anonymousPull?: boolean;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function htpasswdFile(path: string, users: Record<string, string>): Promise<void> {
  const lines: string[] = [];
  for (const [user, password] of Object.entries(users)) {
    // The password goes in on stdin (-i) so it never shows in a process listing.
    const line = await new Promise<string>((resolve, reject) => {
      const child = spawn('htpasswd', ['-B', '-n', '-i', user], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
      });
      child.on('error', reject);
      child.on('close', (code) =>
        code === 0 ? resolve(out.trim()) : reject(new Error(`htpasswd exited ${code}`)),
      );
      child.stdin.end(password);
    });
    lines.push(line);
  }
  await writeFile(path, `${lines.join('\n')}\n`);
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

interface TokenIssuer {
  realm: string;
  certPath: string;
  server: Server;
  requests: number;
}

/** A small token service in the distribution spec's shape, signing ES256 JWTs with a cert the registry trusts. */
async function startTokenIssuer(
  dir: string,
  users: Record<string, string>,
  anonymousPull: boolean,
): Promise<TokenIssuer> {
  const keyPath = join(dir, 'token.key');
  const certPath = join(dir, 'token.crt');
  await runTool('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    keyPath,
    '-out',
    certPath,
    '-days',
    '2',
    '-subj',
    '/CN=bt-img-token-issuer',
  ]);
  const key = createPrivateKey(await readFile(keyPath));
  const certDer = Buffer.from(
    (await readFile(certPath, 'utf8')).replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, ''),
    'base64',
  );
  const issuer: TokenIssuer = { realm: '', certPath, server: createServer(), requests: 0 };
  issuer.server.on('request', (req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/token') {
      res.writeHead(404).end();
      return;
    }
    issuer.requests++;
    let subject = '';
    const header = req.headers.authorization;
    if (header?.startsWith('Basic ')) {
      const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const user = decoded.slice(0, colon);
      if (colon === -1 || users[user] === undefined || users[user] !== decoded.slice(colon + 1)) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"invalid credentials"}');
        return;
      }
      subject = user;
    }
    const access = url.searchParams.getAll('scope').flatMap((scope) => {
      const [type, ...rest] = scope.split(':');
      const actions = (rest.pop() ?? '').split(',').filter(Boolean);
      const name = rest.join(':');
      const granted = subject ? actions : anonymousPull ? actions.filter((a) => a === 'pull') : [];
      return type && name ? [{ type, name, actions: granted }] : [];
    });
    const now = Math.floor(Date.now() / 1000);
    const jwtHeader = { typ: 'JWT', alg: 'ES256', x5c: [certDer.toString('base64')] };
    const claims = {
      iss: 'bt-img-token-issuer',
      sub: subject,
      aud: url.searchParams.get('service') ?? '',
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const signingInput = `${b64url(JSON.stringify(jwtHeader))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign('SHA256').update(signingInput).sign({ key, dsaEncoding: 'ieee-p1363' });
    const token = `${signingInput}.${b64url(signature)}`;
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(
        JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }),
      );
  });
  await new Promise<void>((resolve) => issuer.server.listen(0, '127.0.0.1', resolve));
  const address = issuer.server.address();
  issuer.realm = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/token`;
  return issuer;
}

async function waitReady(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`docker-registry exited ${child.exitCode ?? child.signalCode}: ${log()}`);
    try {
      const response = await fetch(`${url}/v2/`);
      await response.body?.cancel();
      if (response.status === 200 || response.status === 401) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`docker-registry did not answer on ${url}: ${log()}`);
}

/**
 * Starts Debian's docker-registry (distribution 2.8) on a free loopback port with its own temporary storage,
 * optionally behind htpasswd or token auth. Stopping kills exactly that process and removes its directory.
 */
export async function startRegistry(options: RegistryFixtureOptions = {}): Promise<StartedRegistry> {
  const auth = options.auth ?? 'none';
  const users = options.users ?? { 'bt-img-user': 'bt-img-secret' };
  const dir = await mkdtemp(join(tmpdir(), 'bt-img-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  let issuer: TokenIssuer | undefined;
  const config: Record<string, unknown> = {
    version: 0.1,
    log: { level: 'error', accesslog: { disabled: true } },
    storage: {
      filesystem: { rootdirectory: join(dir, 'data') },
      delete: { enabled: true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: { addr: host, secret: randomBytes(16).toString('hex') },
  };
  if (auth === 'htpasswd') {
    await htpasswdFile(join(dir, 'htpasswd'), users);
    config.auth = { htpasswd: { realm: 'bt-img-realm', path: join(dir, 'htpasswd') } };
  } else if (auth === 'token') {
    issuer = await startTokenIssuer(dir, users, options.anonymousPull ?? false);
    config.auth = {
      token: {
        realm: issuer.realm,
        service: 'bt-img-registry',
        issuer: 'bt-img-token-issuer',
        rootcertbundle: issuer.certPath,
      },
    };
  }
  // JSON is YAML, so the config needs no YAML writer.
  const configPath = join(dir, 'config.yml');
  await writeFile(configPath, JSON.stringify(config));
  const child = spawn('docker-registry', ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 8000) stderr += d;
  });
  child.on('error', () => {});
  const url = `http://${host}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    const running = () => child.exitCode === null && child.signalCode === null;
    if (running() && child.pid !== undefined) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 3000))]);
      if (running()) child.kill('SIGKILL');
    }
    if (issuer) await new Promise<void>((resolve) => issuer?.server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitReady(url, child, () => stderr);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    host,
    url,
    rootDirectory: join(dir, 'data'),
    tokenRequests: () => issuer?.requests ?? 0,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
