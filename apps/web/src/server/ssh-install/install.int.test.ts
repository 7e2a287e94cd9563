/**
 * The SSH installer against a real OpenSSH server in a `bt-` network namespace (see sshd.fixture.ts), a real
 * PostgreSQL and the real enrolment route and agent gateway on an HTTP server the agent reaches over the veth.
 * The agent is installed onto this very machine (what sshd runs, runs here) under a temp prefix with its own
 * data root and Docker socket. This machine's PID 1 is not systemd, so those installs take the documented
 * fallback: the agent runs detached under nohup/setsid with a pid file. One test installs onto a host whose PID 1
 * is systemd instead: this machine's systemd booted by systemd-nspawn in another netns (systemd-host.fixture.ts),
 * with sshd as its unit, where the agent runs as the installer's unit.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type EmbeddedDatabase, migrate, startEmbeddedPostgres } from '@berth/db';
import { Engine } from '@berth/engine';
import { loadBusybox } from '@berth/engine/testing/images';
import { testNetworkOptions } from '@berth/engine/testing/network';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { agentUnit } from './layout';
import { envFileQuote } from './quote';
import { type SshdFixture, startSshd } from './sshd.fixture';

const run = promisify(execFile);
const repo = new URL('../../../../../', import.meta.url).pathname;

let root: string;
let database: EmbeddedDatabase;
let sshd: SshdFixture;
/** Hosts a test starts beside `sshd`; closed again after all (a test that times out never reaches its finally). */
const extraHosts: SshdFixture[] = [];
let server: Server;
let agents: WebSocketServer;
let marker: string;
let teamId: string;
const userId = 'bt-ssh-admin';
let m: {
  service: typeof import('./service');
  db: typeof import('../db');
  gateway: typeof import('../agents/gateway');
};

function layout(name: string) {
  return {
    prefix: join(root, name, 'opt'),
    dataRoot: join(root, name, 'data'),
    dockerSocket: join(root, name, 'docker.sock'),
    unitName: `bt-agent-${name}`,
  };
}

async function pidAlive(pidFile: string): Promise<number | null> {
  try {
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    return existsSync(`/proc/${pid}`) ? pid : null;
  } catch {
    return null;
  }
}

async function killAgent(prefix: string): Promise<void> {
  const pid = await pidAlive(join(prefix, 'agent.pid'));
  if (!pid) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 40 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 250));
}

/** One Docker Engine API call on an agent's socket (reachable from here: a unix socket is a file). */
function dockerApi(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, method, path, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => {
          text += d.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : null }));
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/**
 * Another bundle for the control plane to offer: the built one with one more line (so another sha256), with
 * its checksum file and manifest to match, in `root/<name>`.
 */
async function newerBundle(name: string): Promise<{ dir: string; sha256: string }> {
  const dir = join(root, name);
  await cp(join(repo, 'apps/agent/dist'), dir, { recursive: true });
  await writeFile(join(dir, 'berth-agent.mjs'), `\n// bt-update ${name}\n`, { flag: 'a' });
  await run('sh', ['-c', 'cd "$1" && sha256sum berth-agent.mjs > berth-agent.mjs.sha256', 'sh', dir]);
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
  manifest.sha256 = (await readFile(join(dir, 'berth-agent.mjs.sha256'), 'utf8')).split(' ')[0];
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
  return { dir, sha256: manifest.sha256 as string };
}

/** The busybox image put in a data root before the agent exists (the hosts here have no registry to pull from). */
async function preloadBusybox(dataRoot: string): Promise<void> {
  const engine = await Engine.open({ dataRoot, ...testNetworkOptions() });
  await loadBusybox(engine);
  await engine.close();
}

/** A `sleep 1000` container created and started through an agent's Docker API; its id. */
async function startSleeper(socketPath: string, name: string): Promise<string> {
  const created = await dockerApi(socketPath, 'POST', `/containers/create?name=${name}`, {
    Image: 'busybox',
    Cmd: ['sleep', '1000'],
    HostConfig: { NetworkMode: 'none' },
  });
  expect(created.status).toBe(201);
  const id = (created.json as { Id: string }).Id;
  expect((await dockerApi(socketPath, 'POST', `/containers/${id}/start`)).status).toBe(204);
  return id;
}

/** An uninstall run as root with the host's key, to its end; the run as recorded. */
async function uninstall(
  target: {
    host: string;
    port: number;
    fingerprint: string;
    privateKey: string;
    layout: ReturnType<typeof layout>;
  },
  removeContainers: boolean,
) {
  const started = await m.service.startUninstall(teamId, userId, {
    teamId,
    username: 'root',
    removeContainers,
    ...target,
  });
  await started.done;
  return m.service.getRun(teamId, started.id);
}

async function install(input: Record<string, unknown>) {
  const started = await m.service.startInstall(teamId, userId, {
    teamId,
    host: sshd.address,
    port: sshd.port,
    fingerprint: sshd.fingerprint,
    allowPackages: false,
    username: 'root',
    ...input,
  } as never);
  await started.done;
  return m.service.getRun(teamId, started.id);
}

describe('agent install over SSH', () => {
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'bt-ssh-install-'));
    marker = join(root, 'pwned');
    sshd = await startSshd(join(root, 'sshd'));
    await run('node', [join(repo, 'apps/agent/bundle/build.mjs')]);
    database = await startEmbeddedPostgres({ root: join(root, 'pg') });
    await migrate(database.url);
    server = createServer();
    await new Promise<void>((resolve) => server.listen(0, sshd.hostAddress, resolve));
    const port = (server.address() as AddressInfo).port;
    process.env.DATABASE_URL = database.url;
    process.env.BETTER_AUTH_SECRET = randomBytes(32).toString('base64url');
    // A hostile query string: the URL reaches the host's shell (the environment file is sourced there).
    process.env.BERTH_PUBLIC_URL = `http://${sshd.hostAddress}:${port}/?bt='$(touch ${marker})'`;
    process.env.BERTH_AGENT_BUNDLE_DIR = join(repo, 'apps/agent/dist');
    m = {
      service: await import('./service'),
      db: await import('../db'),
      gateway: await import('../agents/gateway'),
    };
    const { POST } = await import('../../app/api/agent/enroll/route');
    const script = await import('../../app/api/agent/install.sh/route');
    const bundleRoute = await import('../../app/api/agent/bundle/[version]/[file]/route');
    const gateway = m.gateway.gateway();
    agents = new WebSocketServer({ noServer: true });
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const path = new URL(req.url ?? '/', 'http://cp').pathname;
        const bundle = /^\/api\/agent\/bundle\/([^/]+)\/([^/]+)$/.exec(path);
        if (req.method === 'GET' && (path === '/api/agent/install.sh' || bundle)) {
          const response = bundle
            ? await bundleRoute.GET(new Request(`http://cp${path}`), {
                params: Promise.resolve({ version: bundle[1] as string, file: bundle[2] as string }),
              })
            : await script.GET();
          res.writeHead(response.status, Object.fromEntries(response.headers));
          res.end(Buffer.from(await response.arrayBuffer()));
          return;
        }
        if (req.method !== 'POST' || path !== '/api/agent/enroll') {
          res.writeHead(404).end();
          return;
        }
        const response = await POST(
          new Request(`http://cp${req.url}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: Buffer.concat(chunks),
          }),
        );
        res.writeHead(response.status, { 'content-type': 'application/json' }).end(await response.text());
      });
    });
    server.on('upgrade', (req, socket, head) => {
      agents.handleUpgrade(req, socket, head, (ws) => gateway.handle(ws, req.socket.remoteAddress ?? null));
    });
    const db = m.db.db();
    teamId = (await db.team.create({ data: { name: 'bt-ssh-team' } })).id;
    await db.user.create({ data: { id: userId, name: 'Admin', email: 'admin@example.test' } });
    await db.membership.create({ data: { teamId, userId, role: 'admin' } });
  });

  afterAll(async () => {
    // A failed run may leave the container test's agent up with its container: remove it through the agent.
    if (root && (await pidAlive(join(layout('ctr').prefix, 'agent.pid')))) {
      const socket = layout('ctr').dockerSocket;
      const listed = await dockerApi(socket, 'GET', '/containers/json?all=1').catch(() => ({ json: [] }));
      for (const c of listed.json as Array<{ Id: string }>)
        await dockerApi(socket, 'DELETE', `/containers/${c.Id}?force=1`).catch(() => undefined);
    }
    for (const name of ['root', 'sudo', 'bad', 'apt', 'curl', 'ctr', 'upd'])
      if (root) await killAgent(layout(name).prefix).catch(() => undefined);
    for (const host of extraHosts) await host.close().catch(() => undefined);
    for (const ws of agents?.clients ?? []) ws.terminate();
    agents?.close();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    await m?.db.db().$disconnect();
    await database?.stop();
    await sshd?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('shows the host key as ssh-keygen prints it, before any login', async () => {
    const probe = await m.service.probe(teamId, sshd.address, sshd.port);
    expect(probe.fingerprint).toBe(sshd.fingerprint);
    expect(probe.keyType).toBe('ssh-ed25519');
    expect(probe.pinned).toBeNull();
    expect(sshd.log()).not.toMatch(/Accepted|Failed (password|publickey)/);
  });

  it('installs as root with a key, comes online, pins the key; a re-run keeps the host; uninstall keeps data', async () => {
    const where = layout('root');
    const first = await install({ privateKey: sshd.rootKey, layout: where });
    expect(first.steps.filter((s) => s.status === 'failed')).toEqual([]);
    expect(first.status).toBe('succeeded');
    expect(first.steps.map((s) => [s.id, s.status])).toEqual([
      ['connect', 'ok'],
      ['upload', 'ok'],
      ['prerequisites', 'ok'],
      ['packages', 'skipped'],
      ['configure', 'ok'],
      ['enrol', 'ok'],
      ['start', 'ok'],
      ['heartbeat', 'ok'],
    ]);
    expect(first.steps.find((s) => s.id === 'start')?.output).toContain(
      'systemd is not running on this host',
    );
    const db = m.db.db();
    const host = await db.host.findUniqueOrThrow({ where: { id: first.hostId as string } });
    expect(host).toMatchObject({ teamId, online: true });
    expect(await pidAlive(join(where.prefix, 'agent.pid'))).not.toBeNull();
    // The spent token is gone from the host; the hostile URL arrived as data.
    const envFile = await readFile(join(where.prefix, 'agent.env'), 'utf8');
    expect(envFile).not.toContain('BERTH_ENROLL_TOKEN');
    expect(envFile).toContain('$(touch');
    expect(existsSync(marker)).toBe(false);
    expect((await m.service.probe(teamId, sshd.address, sshd.port)).pinned).toEqual({
      fingerprint: sshd.fingerprint,
      matches: true,
    });
    // Nothing left in /tmp from the staging.
    expect((await run('sh', ['-c', 'ls -d /tmp/berth-install.* 2>/dev/null || true'])).stdout.trim()).toBe(
      '',
    );

    const again = await install({ privateKey: sshd.rootKey, layout: where });
    expect(again.status).toBe('succeeded');
    expect(again.hostId).toBe(first.hostId);
    expect(again.steps.find((s) => s.id === 'enrol')).toMatchObject({ status: 'skipped' });
    expect(await db.host.count({ where: { teamId } })).toBe(1);

    const uninstalled = await uninstall(
      {
        host: sshd.address,
        port: sshd.port,
        fingerprint: sshd.fingerprint,
        privateKey: sshd.rootKey,
        layout: where,
      },
      false,
    );
    expect(uninstalled.status).toBe('succeeded');
    expect(uninstalled.steps.map((s) => [s.id, s.status])).toEqual([
      ['connect', 'ok'],
      ['containers', 'skipped'],
      ['stop', 'ok'],
      ['remove', 'ok'],
    ]);
    expect(await pidAlive(join(where.prefix, 'agent.pid'))).toBeNull();
    expect(existsSync(join(where.prefix, 'agent.env'))).toBe(false);
    expect(existsSync(join(where.prefix, 'berth-agent.mjs'))).toBe(false);
    expect(existsSync(join(where.dataRoot, 'agent', 'identity.json'))).toBe(true);
    for (let i = 0; i < 40 && (await db.host.count({ where: { id: host.id, online: true } })); i++)
      await new Promise((r) => setTimeout(r, 250));
    expect(await db.host.count({ where: { id: host.id, online: true } })).toBe(0);
  });

  it('installs as a user without root through sudo -S, with password login; a wrong sudo password stops at connect', async () => {
    const wrong = await install({
      username: sshd.user.name,
      password: sshd.user.password,
      sudoPassword: 'not-the-password',
      layout: layout('sudo'),
    });
    expect(wrong.status).toBe('failed');
    expect(wrong.steps[0]).toMatchObject({ id: 'connect', status: 'failed' });
    expect(wrong.steps[0]?.hint).toContain('sudo password');
    expect(wrong.steps.slice(1).every((s) => s.status === 'pending')).toBe(true);

    const where = layout('sudo');
    const done = await install({
      username: sshd.user.name,
      password: sshd.user.password,
      sudoPassword: sshd.user.sudoPassword,
      layout: where,
    });
    expect(done.steps.filter((s) => s.status === 'failed')).toEqual([]);
    expect(done.status).toBe('succeeded');
    expect(done.steps[0]?.output).toContain('through sudo');
    // The agent runs as root although the login was not.
    const pid = await pidAlive(join(where.prefix, 'agent.pid'));
    expect((await readFile(`/proc/${pid}/status`, 'utf8')).match(/^Uid:\s+(\d+)/m)?.[1]).toBe('0');
    expect(sshd.log()).toContain(`Accepted password for ${sshd.user.name}`);
    // The sudo password went on stdin: no file the install wrote holds it.
    const written = await run('grep', ['-rlF', sshd.user.sudoPassword, where.prefix, where.dataRoot]).catch(
      (error: { code?: number }) => error,
    );
    expect((written as { code?: number }).code).toBe(1);
    await killAgent(where.prefix);
  });

  it('a bundle that fails its checksum on the host stops at upload and configures nothing', async () => {
    const bad = join(root, 'bad-bundle');
    await cp(join(repo, 'apps/agent/dist'), bad, { recursive: true });
    await writeFile(join(bad, 'berth-agent.mjs'), '// not the agent\n', { flag: 'a' });
    process.env.BERTH_AGENT_BUNDLE_DIR = bad;
    try {
      const where = layout('bad');
      const failed = await install({ privateKey: sshd.rootKey, layout: where });
      expect(failed.status).toBe('failed');
      const upload = failed.steps.find((s) => s.id === 'upload');
      expect(upload).toMatchObject({ status: 'failed' });
      expect(upload?.output).toContain('does not match its checksum');
      expect(upload?.output).toMatch(/berth-agent\.mjs: FAILED/);
      expect(existsSync(where.prefix)).toBe(false);
    } finally {
      process.env.BERTH_AGENT_BUNDLE_DIR = join(repo, 'apps/agent/dist');
    }
  });

  it('a host without conmon: the check says so in words, and without permission to install nothing is set up', async () => {
    const bare = await startSshd(join(root, 'sshd-bare'), { hide: ['/usr/bin/conmon'] });
    try {
      const where = layout('bare');
      const started = await m.service.startInstall(teamId, userId, {
        teamId,
        host: bare.address,
        port: bare.port,
        username: 'root',
        privateKey: bare.rootKey,
        fingerprint: bare.fingerprint,
        allowPackages: false,
        layout: { ...where },
      });
      await started.done;
      const failed = await m.service.getRun(teamId, started.id);
      expect(failed.status).toBe('failed');
      expect(failed.steps.map((s) => [s.id, s.status]).slice(0, 5)).toEqual([
        ['connect', 'ok'],
        ['upload', 'ok'],
        ['prerequisites', 'ok'],
        ['packages', 'failed'],
        ['configure', 'pending'],
      ]);
      expect(failed.steps[2]?.output).toContain('MISSING conmon is missing: apt-get install conmon');
      expect(failed.steps[3]?.hint).toBe(
        'Allow package installation and run again, or run on the host: apt-get install -y conmon',
      );
      expect(existsSync(where.prefix)).toBe(false);
    } finally {
      await bare.close();
    }
  });

  it('a host without aardvark-dns, with permission to install: apt-get installs it, then the agent runs', async () => {
    // This machine keeps its own aardvark-dns: the sshd's namespace has private copies of dpkg's and apt's state
    // and of the package's directories, where the fixture purged it and where apt-get installs it again, from a
    // local repository holding this machine's own copy of the package (tests reach nothing beyond the machine).
    const binary = '/usr/lib/podman/aardvark-dns';
    const own = await stat(binary);
    const bare = await startSshd(join(root, 'sshd-apt'), { withoutPackages: ['aardvark-dns'] });
    const where = layout('apt');
    try {
      const started = await m.service.startInstall(teamId, userId, {
        teamId,
        host: bare.address,
        port: bare.port,
        username: 'root',
        privateKey: bare.rootKey,
        fingerprint: bare.fingerprint,
        allowPackages: true,
        layout: { ...where },
      });
      // Give up in time for the cleanup below to run.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        started.done,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('the install did not end in 2 minutes')), 120_000);
        }),
      ]).finally(() => clearTimeout(timer));
      const result = await m.service.getRun(teamId, started.id);
      expect(result.steps.filter((s) => s.status === 'failed')).toEqual([]);
      expect(result.status).toBe('succeeded');
      const steps = Object.fromEntries(result.steps.map((s) => [s.id, s]));
      expect(steps.prerequisites?.output).toContain(
        'MISSING aardvark-dns is missing: apt-get install aardvark-dns',
      );
      expect(steps.packages?.status).toBe('ok');
      // The check after apt-get finds the binary again and runs it.
      expect(steps.packages?.output).toMatch(
        /aardvark-dns \d+\.\d+\.\d+ \(\/usr\/lib\/podman\/aardvark-dns\)/,
      );
      // What the agent sees (its mount namespace, through /proc): the package installed anew, not this machine's.
      const pid = await pidAlive(join(where.prefix, 'agent.pid'));
      expect(pid).not.toBeNull();
      const theirs = await stat(`/proc/${pid}/root${binary}`);
      expect(theirs.ino).not.toBe(own.ino);
      expect(await readFile(`/proc/${pid}/root/var/lib/dpkg/status`, 'utf8')).toMatch(
        /Package: aardvark-dns\nStatus: install ok installed/,
      );
    } finally {
      await killAgent(where.prefix);
      await bare.close();
    }
    // Gone with the namespace; this machine's package and file are as they were.
    const after = await stat(binary);
    expect([after.ino, after.mtimeMs]).toEqual([own.ino, own.mtimeMs]);
    // dpkg-query's own format placeholder, not a template.
    const status = ['$', '{Status}'].join('');
    expect((await run('dpkg-query', ['-W', '-f', status, 'aardvark-dns'])).stdout).toBe(
      'install ok installed',
    );
    expect(await readFile('/proc/self/mountinfo', 'utf8')).not.toContain('bt-private');
  }, 300_000);

  it('hostile user names are data for SSH, not shell', async () => {
    for (const username of [`a'; touch ${marker} #`, `$(touch ${marker})`]) {
      const failed = await install({ username, password: 'x', layout: layout('bad') });
      expect(failed.status).toBe('failed');
      expect(failed.steps[0]?.hint).toContain('user name');
    }
    expect(existsSync(marker)).toBe(false);
  });

  it('the one-line `curl … | sh` install enrols a host the control plane does not log in to', async () => {
    const { installCommand } = await import('./install-script');
    const { createEnrollmentToken } = await import('../agents/enrollment');
    const { token } = await createEnrollmentToken(teamId, userId);
    const where = layout('curl');
    const command = `${installCommand(process.env.BERTH_PUBLIC_URL as string, token)} --prefix ${where.prefix} --data-root ${where.dataRoot} --docker-socket ${where.dockerSocket}`;
    expect(command).toMatch(
      /^curl -fsSL 'http:\/\/[0-9.]+:\d+\/api\/agent\/install\.sh' \| sh -s -- --token '/,
    );
    // Run where a host's admin would: a root shell on the host (here through the netns sshd).
    const { SshSession } = await import('./session');
    const session = await SshSession.open(
      { host: sshd.address, port: sshd.port, username: 'root' },
      { privateKey: sshd.rootKey },
      sshd.fingerprint,
    );
    try {
      const result = await session.exec(command, { timeoutMs: 60_000 });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('ok      conmon');
      expect(result.stdout).toContain('systemd is not running on this host');
    } finally {
      session.close();
    }
    const identity = join(where.dataRoot, 'agent', 'identity.json');
    for (let i = 0; i < 120 && !existsSync(identity); i++) await new Promise((r) => setTimeout(r, 250));
    const { hostId } = JSON.parse(await readFile(identity, 'utf8')) as { hostId: string };
    const db = m.db.db();
    for (let i = 0; i < 120 && !(await db.host.count({ where: { id: hostId, online: true } })); i++)
      await new Promise((r) => setTimeout(r, 250));
    expect(await db.host.findUnique({ where: { id: hostId } })).toMatchObject({ teamId, online: true });
    expect(existsSync(marker)).toBe(false);
    await killAgent(where.prefix);
  });

  it('uninstall keeps running containers unless asked; asked, it removes them through the agent', async () => {
    const where = layout('ctr');
    await preloadBusybox(where.dataRoot);
    const installed = await install({ privateKey: sshd.rootKey, layout: where });
    expect(installed.status).toBe('succeeded');
    const id = await startSleeper(where.dockerSocket, 'bt-ssh-keep');
    const inspected = await dockerApi(where.dockerSocket, 'GET', `/containers/${id}/json`);
    const pid = (inspected.json as { State: { Pid: number } }).State.Pid;
    expect(pid).toBeGreaterThan(0);

    const target = {
      host: sshd.address,
      port: sshd.port,
      fingerprint: sshd.fingerprint,
      privateKey: sshd.rootKey,
      layout: where,
    };
    const kept = await uninstall(target, false);
    expect(kept.status).toBe('succeeded');
    expect(await pidAlive(join(where.prefix, 'agent.pid'))).toBeNull();
    // The agent is gone; its container's process is not.
    expect(existsSync(`/proc/${pid}`)).toBe(true);

    // Installed again, the agent re-attaches to it; then an uninstall that removes containers.
    const again = await install({ privateKey: sshd.rootKey, layout: where });
    expect(again.steps.find((s) => s.id === 'enrol')?.status).toBe('skipped');
    const listed = await dockerApi(where.dockerSocket, 'GET', '/containers/json');
    expect((listed.json as Array<{ Id: string; State: string }>).map((c) => [c.Id, c.State])).toEqual([
      [id, 'running'],
    ]);
    const removed = await uninstall(target, true);
    expect(removed.status).toBe('succeeded');
    expect(removed.steps.find((s) => s.id === 'containers')?.output).toContain('/bt-ssh-keep: removed');
    for (let i = 0; i < 40 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 250));
    expect(existsSync(`/proc/${pid}`)).toBe(false);
  });

  it("the bundled agent updates itself to the control plane's bundle and restarts on it, staying enrolled", async () => {
    const { createEnrollmentToken } = await import('../agents/enrollment');
    const { fileSha256 } = await import('@berth/agent/upgrade/self-update');
    const where = layout('upd');
    const current = join(repo, 'apps/agent/dist');
    await cp(current, where.prefix, { recursive: true });
    const bundle = join(where.prefix, 'berth-agent.mjs');
    const pidFile = join(where.prefix, 'agent.pid');
    const { token } = await createEnrollmentToken(teamId, userId);
    const child = spawn(process.execPath, [bundle], {
      detached: true,
      stdio: 'ignore',
      env: {
        PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
        BERTH_CONTROL_PLANE: process.env.BERTH_PUBLIC_URL as string,
        BERTH_DATA_ROOT: where.dataRoot,
        BERTH_DOCKER_SOCKET: where.dockerSocket,
        BERTH_ENROLL_TOKEN: token,
        BERTH_UPDATE_INTERVAL_MS: '1000',
        BERTH_PID_FILE: pidFile,
        NODE_ENV: 'production',
      },
    });
    child.unref();
    await writeFile(pidFile, `${child.pid}\n`);
    const identity = join(where.dataRoot, 'agent', 'identity.json');
    for (let i = 0; i < 120 && !existsSync(identity); i++) await new Promise((r) => setTimeout(r, 250));
    const { hostId } = JSON.parse(await readFile(identity, 'utf8')) as { hostId: string };
    const db = m.db.db();
    const online = async () => (await db.host.count({ where: { id: hostId, online: true } })) === 1;
    for (let i = 0; i < 80 && !(await online()); i++) await new Promise((r) => setTimeout(r, 250));
    expect(await online()).toBe(true);
    // Its own bundle is the control plane's: nothing happens.
    await new Promise((r) => setTimeout(r, 2500));
    expect(Number((await readFile(pidFile, 'utf8')).trim())).toBe(child.pid);

    // The control plane now offers another bundle (same code, one more line, so another sha256).
    const { dir: newer, sha256 } = await newerBundle('newer-bundle');
    process.env.BERTH_AGENT_BUNDLE_DIR = newer;
    try {
      for (let i = 0; i < 120 && (await fileSha256(bundle)) !== sha256; i++)
        await new Promise((r) => setTimeout(r, 250));
      expect(await fileSha256(bundle)).toBe(sha256);
      let pid = child.pid;
      for (let i = 0; i < 120 && pid === child.pid; i++) {
        pid = Number((await readFile(pidFile, 'utf8')).trim());
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(pid).not.toBe(child.pid);
      for (let i = 0; i < 40 && existsSync(`/proc/${child.pid}`); i++)
        await new Promise((r) => setTimeout(r, 250));
      expect(existsSync(`/proc/${child.pid}`)).toBe(false);
      expect((await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')).toContain(bundle);
      // Back online as the same host, on the new bundle; and it does not update again.
      for (let i = 0; i < 80 && !(await online()); i++) await new Promise((r) => setTimeout(r, 250));
      expect(await online()).toBe(true);
      await new Promise((r) => setTimeout(r, 2500));
      expect(Number((await readFile(pidFile, 'utf8')).trim())).toBe(pid);
    } finally {
      process.env.BERTH_AGENT_BUNDLE_DIR = current;
      await killAgent(where.prefix);
    }
  });

  it('on a host whose PID 1 is systemd: a failed run leaves no unit; the unit runs the agent, restarts it when killed, keeps its container through restart, update and uninstall; curl | sh takes the same unit', async () => {
    const where = layout('sd');
    const unit = `${where.unitName}.service`;
    const current = join(repo, 'apps/agent/dist');
    await preloadBusybox(where.dataRoot);
    // A host of its own: systemd boots in another netns, with the layout's directory shown there.
    const host = await startSshd(join(root, 'sshd-sd'), { systemd: { binds: [join(root, 'sd')] } });
    extraHosts.push(host);
    const until = async (check: () => Promise<boolean>, what: string, timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!(await check())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    const systemctl = async (...args: string[]) => (await host.exec(['systemctl', ...args])).stdout.trim();
    const mainPid = async () => Number(await systemctl('show', '-p', 'MainPID', '--value', unit));
    const restarts = async () => Number(await systemctl('show', '-p', 'NRestarts', '--value', unit));
    const serving = async () =>
      (await dockerApi(where.dockerSocket, 'GET', '/version').catch(() => ({ status: 0 }))).status === 200;
    const container = async (id: string) => {
      const { json } = await dockerApi(where.dockerSocket, 'GET', `/containers/${id}/json`);
      return (json as { State: { Running: boolean; Pid: number; StartedAt: string } }).State;
    };
    const target = {
      host: host.address,
      port: host.port,
      fingerprint: host.fingerprint,
      privateKey: host.rootKey,
      layout: where,
    };
    try {
      // systemd reads an environment file's values as sh does (the file the installers write is read by both).
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a hostile value, not a template
      const values = ["a'; rm -rf / #", "'$(touch bt)'", '`x` \\ "q" $HOME ${IFS}', ' spaced ', ''];
      const envFile = join(root, 'sd', 'values.env');
      await writeFile(envFile, values.map((v, i) => `BT_V${i}=${envFileQuote(v)}\n`).join(''));
      const read = await host.exec([
        'systemd-run',
        '--quiet',
        '--wait',
        '--pipe',
        '-p',
        `EnvironmentFile=${envFile}`,
        '/usr/bin/env',
        '-0',
      ]);
      expect(read.stderr).toBe('');
      const environment = new Map(
        read.stdout.split('\0').map((line) => [line.split('=')[0], line.slice(line.indexOf('=') + 1)]),
      );
      expect(values.map((_, i) => environment.get(`BT_V${i}`))).toEqual(values);

      // A run that fails after writing the unit (its agent reaches no control plane: nothing listens on the
      // discard port) leaves no unit behind, neither running nor enabled nor on disk.
      const { runInstall } = await import('./installer');
      const { createEnrollmentToken } = await import('../agents/enrollment');
      let steps: Array<{ id: string; status: string; output: string }> = [];
      const failure = await runInstall({
        target: { host: host.address, port: host.port, username: 'root' },
        credentials: { privateKey: host.rootKey },
        fingerprint: host.fingerprint,
        layout: where,
        controlPlane: `http://${sshd.hostAddress}:9/`,
        allowPackages: false,
        bundle: { dir: current },
        knownHost: async () => false,
        createEnrollmentToken: async () => (await createEnrollmentToken(teamId, userId)).token,
        waitOnline: async () => false,
        onUpdate: (update) => {
          steps = update;
        },
        heartbeatTimeoutMs: 4000,
      }).then(
        () => null,
        (error: Error) => error,
      );
      expect(failure?.message).toBe('the agent did not enrol');
      expect(steps.find((s) => s.id === 'start')?.status).toBe('ok');
      expect(steps.find((s) => s.id === 'heartbeat')).toMatchObject({ status: 'failed' });
      // What systemd's journal says of the unit is shown with the failed step.
      expect(steps.find((s) => s.id === 'heartbeat')?.output).toContain(`Started ${unit}`);
      expect(await systemctl('is-active', unit)).not.toBe('active');
      expect(await systemctl('is-enabled', unit)).not.toBe('enabled');
      expect((await host.exec(['test', '-e', `/etc/systemd/system/${unit}`])).code).not.toBe(0);
      expect(existsSync(join(where.prefix, 'agent.env'))).toBe(false);

      const installed = await install(target);
      expect(installed.steps.filter((s) => s.status === 'failed')).toEqual([]);
      expect(installed.status).toBe('succeeded');
      expect(installed.steps.find((s) => s.id === 'configure')?.output).toContain(
        `/etc/systemd/system/${unit}`,
      );
      expect(installed.steps.find((s) => s.id === 'start')?.output).toContain(`Created symlink`);
      expect((await host.exec(['cat', `/etc/systemd/system/${unit}`])).stdout).toBe(agentUnit(where));
      expect(await systemctl('is-enabled', unit)).toBe('enabled');
      expect(await systemctl('is-active', unit)).toBe('active');
      // systemd's EnvironmentFile= read the hostile URL as the data it is.
      const first = await mainPid();
      const environ = (await host.exec(['cat', `/proc/${first}/environ`])).stdout.split('\0');
      expect(environ).toContain(`BERTH_CONTROL_PLANE=${process.env.BERTH_PUBLIC_URL}`);
      expect(existsSync(marker)).toBe(false);
      const db = m.db.db();
      const online = async () =>
        (await db.host.count({ where: { id: installed.hostId as string, online: true } })) === 1;
      await until(online, 'the host is online');

      const id = await startSleeper(where.dockerSocket, 'bt-sd-keep');
      const running = await container(id);
      expect(running).toMatchObject({ Running: true });

      // Killed: systemd starts it again (Restart=on-failure), and the container ran on meanwhile.
      await host.exec(['kill', '-KILL', String(first)]);
      await until(
        async () => (await mainPid()) !== first && (await mainPid()) > 0,
        'systemd restarts the agent',
      );
      expect(await restarts()).toBe(1);
      await until(serving, 'the restarted agent serves its socket');
      expect(await container(id)).toEqual(running);

      // `systemctl restart` (KillMode=process) stops the agent alone.
      const second = await mainPid();
      expect((await host.exec(['systemctl', 'restart', unit])).code).toBe(0);
      expect(await mainPid()).not.toBe(second);
      await until(serving, 'the agent serves its socket after systemctl restart');
      expect(await container(id)).toEqual(running);

      // An update: the agent replaces its bundle, exits 75 and systemd starts the new one.
      await appendFile(join(where.prefix, 'agent.env'), 'BERTH_UPDATE_INTERVAL_MS=1000\n');
      expect((await host.exec(['systemctl', 'restart', unit])).code).toBe(0);
      const third = await mainPid();
      const restartsBefore = await restarts();
      const { dir: newer, sha256 } = await newerBundle('newer-bundle-sd');
      process.env.BERTH_AGENT_BUNDLE_DIR = newer;
      try {
        await until(
          async () => (await mainPid()) !== third && (await mainPid()) > 0,
          'the agent restarts on its new bundle',
        );
      } finally {
        process.env.BERTH_AGENT_BUNDLE_DIR = current;
      }
      const { fileSha256 } = await import('@berth/agent/upgrade/self-update');
      expect(await fileSha256(join(where.prefix, 'berth-agent.mjs'))).toBe(sha256);
      expect(await restarts()).toBe(restartsBefore + 1);
      const journal = (await host.exec(['journalctl', '-u', unit, '-o', 'cat', '--no-pager'])).stdout;
      expect(journal).toMatch(/Main process exited, code=exited, status=75\b/);
      await until(serving, 'the updated agent serves its socket');
      expect(await container(id)).toEqual(running);
      await until(online, 'the updated agent is online again');

      // Uninstalled: the unit is stopped, disabled and gone; the container is not.
      const kept = await uninstall(target, false);
      expect(kept.status).toBe('succeeded');
      expect(await systemctl('is-active', unit)).toBe('inactive');
      expect((await host.exec(['test', '-e', `/etc/systemd/system/${unit}`])).code).not.toBe(0);
      expect((await host.exec(['kill', '-0', String(running.Pid)])).code).toBe(0);

      // Installed again, the agent re-attaches to it; an uninstall that removes containers ends it.
      const again = await install(target);
      expect(again.status).toBe('succeeded');
      expect(await systemctl('is-active', unit)).toBe('active');
      expect(await container(id)).toEqual(running);
      const removed = await uninstall(target, true);
      expect(removed.status).toBe('succeeded');
      expect(removed.steps.find((s) => s.id === 'containers')?.output).toContain('/bt-sd-keep: removed');
      await until(
        async () => (await host.exec(['kill', '-0', String(running.Pid)])).code !== 0,
        'the container is gone',
      );

      // The one-line install on this host takes the same unit, at the default layout (the machine's own /opt,
      // /var/lib and /run), and its environment file reaches the agent through systemd as written.
      const { installCommand } = await import('./install-script');
      const { token } = await createEnrollmentToken(teamId, userId);
      const { SshSession } = await import('./session');
      const session = await SshSession.open(
        { host: host.address, port: host.port, username: 'root' },
        { privateKey: host.rootKey },
        host.fingerprint,
      );
      try {
        const result = await session.exec(installCommand(process.env.BERTH_PUBLIC_URL as string, token), {
          timeoutMs: 60_000,
        });
        expect(result.code).toBe(0);
        expect(result.stdout).toContain('the agent runs as berth-agent.service');
      } finally {
        session.close();
      }
      expect(await systemctl('is-enabled', 'berth-agent.service')).toBe('enabled');
      const identity = async () =>
        (await host.exec(['cat', '/var/lib/berth/agent/identity.json'])).stdout || 'null';
      await until(async () => JSON.parse(await identity()) !== null, 'the one-line install enrols');
      const enrolled = JSON.parse(await identity()) as { hostId: string; controlPlane: string };
      expect(enrolled.controlPlane).toBe(process.env.BERTH_PUBLIC_URL);
      await until(
        async () => (await db.host.count({ where: { id: enrolled.hostId, online: true } })) === 1,
        'the one-line install comes online',
      );
      expect(existsSync(marker)).toBe(false);
    } finally {
      process.env.BERTH_AGENT_BUNDLE_DIR = current;
      await host.close();
    }
  });

  it('refuses a changed host key loudly, before sending credentials', async () => {
    const pinned = sshd.fingerprint;
    const rotated = await sshd.rotateHostKey();
    expect(rotated).not.toBe(pinned);
    const probe = await m.service.probe(teamId, sshd.address, sshd.port);
    expect(probe.pinned).toEqual({ fingerprint: pinned, matches: false });
    // Confirming the new key does not override the pin.
    await expect(
      install({ privateKey: sshd.rootKey, fingerprint: rotated, layout: layout('bad') }),
    ).rejects.toMatchObject({ name: 'SshInstallError', code: 'host_key_changed' });
    // With the old pin, the connection itself is refused at the host key.
    const before = (sshd.log().match(/Accepted publickey/g) ?? []).length;
    const refused = await install({ privateKey: sshd.rootKey, fingerprint: pinned, layout: layout('bad') });
    expect(refused.steps[0]).toMatchObject({ id: 'connect', status: 'failed' });
    expect(refused.steps[0]?.output).toContain(`is ${rotated}, not the confirmed ${pinned}`);
    expect((sshd.log().match(/Accepted publickey/g) ?? []).length).toBe(before);
    // An admin who knows the host was reinstalled forgets the pin, then confirms the new key.
    await m.service.forgetHostKey(teamId, sshd.address, sshd.port, userId);
    expect((await m.service.probe(teamId, sshd.address, sshd.port)).pinned).toBeNull();
    const audit = await m.db.db().auditLog.findMany({ where: { teamId }, orderBy: { createdAt: 'asc' } });
    expect(audit.map((a) => a.action)).toEqual(
      expect.arrayContaining([
        'host.ssh_install',
        'host.ssh_installed',
        'host.ssh_install_failed',
        'host.ssh_key_pinned',
        'host.ssh_key_forgotten',
        'host.ssh_uninstall',
        'host.ssh_uninstalled',
      ]),
    );
    expect(JSON.stringify(audit)).not.toContain(sshd.user.password);
    expect(JSON.stringify(audit)).not.toContain('PRIVATE KEY');
  });
});
