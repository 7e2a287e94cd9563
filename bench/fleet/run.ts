/**
 * Fleet benchmark: N simulated agents in this process, each the real link client (ControlPlaneLink) over its
 * own WebSocket with an in-memory engine, connected to one control-plane instance started as `npm start`
 * starts it (production build, its own PostgreSQL here). Prints:
 *   - the instance's resident memory per connected agent (RSS after all are online minus RSS before, / N);
 *   - how long a container's state change takes to show in the fleet-wide containers list the pages read
 *     (the agent's delta → tRPC `containers.list` over HTTP with a real session), p50/p99; and the same as an
 *     open page sees it (the team's /api/fleet/events stream, then one refetch per event), p50/p99, and on
 *     screen in Chromium (the Containers page), p50/p99;
 *   - log-line latency agent → browser: a line written by a simulated container, read from `/api/logs`
 *     (server-sent events, as the Logs panel reads them), p50/p99.
 * Targets (issue #8): 10,000 agents under 1.5 GiB RSS; change reflected p99 < 1 s; log line p50 < 200 ms.
 *
 *   npx tsx bench/fleet/run.ts [--agents 10000] [--changes 100] [--lines 100]
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ControlPlaneLink, type InventoryDelta, type LinkBackend } from '@berth/agent/link/client';
import { AgentIdentity } from '@berth/agent/link/identity';
import type { ContainerSummary, EngineFacts } from '@berth/agent/protocol/messages';
import { createDb, freePort, migrate, startEmbeddedPostgres } from '@berth/db';
import { launchChromium } from '@berth/e2e/specs/harness';
import { startStack } from '@berth/e2e/specs/stack';
import { pino } from 'pino';

const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: '10000' },
    changes: { type: 'string', default: '100' },
    lines: { type: 'string', default: '100' },
  },
});
const agentCount = Number(values.agents);
const changeCount = Number(values.changes);
const lineCount = Number(values.lines);

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** The control-plane node process of a stack: the one running server.ts with the stack's PORT. */
async function serverPid(port: number): Promise<number> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8');
      if (!cmdline.includes('apps/web/server.ts') || !cmdline.includes('--import')) continue;
      const environ = await readFile(`/proc/${entry}/environ`, 'utf8');
      if (environ.split('\0').includes(`PORT=${port}`)) return Number(entry);
    } catch {}
  }
  throw new Error(`no control-plane process found for port ${port}`);
}

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? Number.NaN) / 1024;
}

/** One simulated host: a container whose state the bench flips, and a log stream it writes to on demand. */
class SimulatedHost implements LinkBackend {
  readonly container: ContainerSummary;
  readonly facts: () => Promise<EngineFacts>;
  #emit: ((delta: InventoryDelta) => void) | undefined;
  lineSink: ((line: string) => Promise<void>) | undefined;

  constructor(readonly index: number) {
    const factsValue: EngineFacts = {
      hostname: `bt-sim-${index}`,
      os: 'Debian GNU/Linux 12',
      kernel: '6.1',
      arch: 'x64',
      cpus: 2,
      memoryBytes: 4 * 2 ** 30,
      runtimes: { runc: '1.1.5' },
      agentVersion: 'bench',
    };
    this.facts = async () => factsValue;
    this.container = {
      id: randomBytes(32).toString('hex'),
      name: `bt-sim-${index}-web`,
      image: 'busybox:latest',
      imageId: `sha256:${'1'.repeat(64)}`,
      command: 'httpd -f',
      state: 'running',
      status: 'Up',
      created: Math.floor(Date.now() / 1000),
      labels: { 'bt.bench': 'fleet' },
      ports: [],
      networks: ['bridge'],
    };
  }

  async inventory() {
    return { facts: await this.facts(), containers: [this.container], images: [], volumes: [], networks: [] };
  }

  async *deltas(signal: AbortSignal): AsyncIterable<InventoryDelta> {
    while (!signal.aborted) {
      const delta = await new Promise<InventoryDelta | undefined>((resolve) => {
        this.#emit = resolve;
        signal.addEventListener('abort', () => resolve(undefined), { once: true });
      });
      if (delta) yield delta;
    }
  }

  flip(): ContainerSummary['state'] {
    const state = this.container.state === 'running' ? 'exited' : 'running';
    Object.assign(this.container, { state, status: state === 'running' ? 'Up' : 'Exited (0)' });
    this.#emit?.({
      event: {
        Type: 'container',
        Action: state === 'running' ? 'start' : 'die',
        Actor: { ID: this.container.id, Attributes: { name: this.container.name } },
        time: Math.floor(Date.now() / 1000),
        timeNano: Date.now() * 1e6,
      },
      container: { ...this.container },
    } as InventoryDelta);
    return state;
  }

  async execute(): Promise<unknown> {
    return {};
  }

  async openStream(
    _request: unknown,
    sink: { write(chunk: { stream: 'stdout' | 'stderr'; data: Buffer }): Promise<void> },
    signal: AbortSignal,
  ): Promise<{ exitCode?: number }> {
    this.lineSink = (line) => sink.write({ stream: 'stdout', data: Buffer.from(`${line}\n`) });
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    this.lineSink = undefined;
    return {};
  }
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'bt-bench-fleet-'));
  await chmod(root, 0o755);
  const database = await startEmbeddedPostgres({ root: join(root, 'db') });
  const links: ControlPlaneLink[] = [];
  try {
    await migrate(database.url);
    const secret = randomBytes(32).toString('base64url');
    const port = await freePort();
    process.env.DATABASE_URL = database.url;
    process.env.BETTER_AUTH_SECRET = secret;
    process.env.BERTH_PUBLIC_URL = `http://localhost:${port}`;
    const prisma = createDb(database.url);

    // A user with a session, a team, and N enrolled hosts (their keys made here, as enrolment would).
    const { auth } = await import('@berth/web/server/auth');
    const email = `bt-fleet-${randomUUID().slice(0, 8)}@example.test`;
    const password = 'bt-fleet-password-long';
    const { user } = await auth().api.signUpEmail({ body: { name: 'bench', email, password } });
    const team = await prisma.team.create({ data: { name: 'bench' } });
    await prisma.membership.create({ data: { teamId: team.id, userId: user.id, role: 'owner' } });
    const hosts = Array.from({ length: agentCount }, (_, i) => new SimulatedHost(i));
    const identities: AgentIdentity[] = [];
    for (let i = 0; i < agentCount; i++)
      identities.push(await AgentIdentity.load(join(root, 'agents', String(i))));
    const hostIds: string[] = [];
    for (let i = 0; i < agentCount; i += 1000) {
      const batch = identities.slice(i, i + 1000).map((identity, j) => ({
        id: randomUUID(),
        teamId: team.id,
        name: `bt-sim-${i + j}`,
        publicKey: identity.publicKey,
      }));
      await prisma.host.createMany({ data: batch });
      hostIds.push(...batch.map((h) => h.id));
    }

    await using stack = await startStack({
      localAgent: false,
      port,
      env: { DATABASE_URL: database.url, BETTER_AUTH_SECRET: secret },
    });
    const signIn = await fetch(`${stack.url}/api/auth/sign-in/email`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: stack.url },
      body: JSON.stringify({ email, password }),
    });
    const cookie = signIn.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    if (!signIn.ok || !cookie) throw new Error(`sign-in failed: ${signIn.status}`);
    const trpcGet = async (path: string, input: unknown) => {
      const url = `${stack.url}/api/trpc/${path}?input=${encodeURIComponent(JSON.stringify({ json: input }))}`;
      const response = await fetch(url, { headers: { cookie } });
      if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
      return ((await response.json()) as { result: { data: { json: unknown } } }).result.data.json;
    };
    // Warm the pages' code paths before the baseline.
    for (let i = 0; i < 5; i++) await trpcGet('containers.list', { teamId: team.id, pageSize: 50 });
    const pid = await serverPid(Number(new URL(stack.url).port));
    await new Promise((r) => setTimeout(r, 2000));
    const before = await rssMiB(pid);

    const started = performance.now();
    for (let i = 0; i < agentCount; i++) {
      links.push(
        new ControlPlaneLink({
          controlPlane: stack.url,
          hostId: hostIds[i] as string,
          identity: identities[i] as AgentIdentity,
          backend: hosts[i] as SimulatedHost,
          log: pino({ level: 'silent' }),
          agentVersion: 'bench',
        }).start(),
      );
      if (i % 200 === 199) await new Promise((r) => setTimeout(r, 50));
    }
    for (;;) {
      const online = await prisma.host.count({ where: { teamId: team.id, online: true } });
      if (online === agentCount) break;
      if (performance.now() - started > 20 * 60_000) throw new Error(`only ${online} agents came online`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const connectSeconds = (performance.now() - started) / 1000;
    // Let inventories land and the heap settle with every agent heartbeating.
    await new Promise((r) => setTimeout(r, 20_000));
    const after = await rssMiB(pid);

    /** Whether the fleet containers list (what the Containers page reads) shows the host's container in `state`. */
    const listShows = async (host: SimulatedHost, state: string): Promise<boolean> => {
      const page = (await trpcGet('containers.list', {
        teamId: team.id,
        search: host.container.name,
        pageSize: 5,
      })) as { rows: Array<{ name: string; state: string }> };
      return page.rows.find((r) => r.name === host.container.name)?.state === state;
    };
    const reflections: number[] = [];
    for (let n = 0; n < changeCount; n++) {
      const host = hosts[Math.floor(Math.random() * hosts.length)] as SimulatedHost;
      const t0 = performance.now();
      const state = host.flip();
      while (!(await listShows(host, state)))
        if (performance.now() - t0 > 30_000) throw new Error('a state change never showed');
      reflections.push(performance.now() - t0);
    }

    // As an open page sees it: the team's live change stream, then one refetch of the list per event.
    const pushAbort = new AbortController();
    const pushStream = await fetch(`${stack.url}/api/fleet/events?teamId=${team.id}`, {
      headers: { cookie },
      signal: pushAbort.signal,
    });
    if (!pushStream.ok || !pushStream.body) throw new Error(`fleet events: ${pushStream.status}`);
    const pushReader = pushStream.body.getReader();
    let eventsSeen = 0;
    let onEvent: (() => void) | undefined;
    const pushReading = (async () => {
      const decoder = new TextDecoder();
      for (;;) {
        const { value, done } = await pushReader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        eventsSeen += decoder.decode(value, { stream: true }).split('event: change').length - 1;
        onEvent?.();
      }
    })();
    const nextEvent = (after: number) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no fleet change event in 30 s')), 30_000);
        onEvent = () => {
          if (eventsSeen <= after) return;
          clearTimeout(timer);
          resolve();
        };
        onEvent();
      });
    const pushed: number[] = [];
    for (let n = 0; n < changeCount; n++) {
      // Apart by more than the stream's coalescing window, as changes a person watches are.
      await new Promise((r) => setTimeout(r, 250));
      const host = hosts[Math.floor(Math.random() * hosts.length)] as SimulatedHost;
      let seen = eventsSeen;
      const t0 = performance.now();
      const state = host.flip();
      for (;;) {
        await nextEvent(seen);
        seen = eventsSeen;
        if (await listShows(host, state)) break;
      }
      pushed.push(performance.now() - t0);
    }
    pushAbort.abort();
    await pushReading;

    // In Chromium: the Containers page, signed in, showing one host's container; the time from the agent's
    // change to the new state on screen (the page's live stream, its refetch and React's render).
    const browser = await launchChromium();
    const onScreen: number[] = [];
    try {
      const context = await browser.newContext();
      await context.addCookies(
        cookie.split('; ').map((pair) => {
          const [name, ...rest] = pair.split('=');
          return { name: name as string, value: rest.join('='), url: stack.url };
        }),
      );
      const page = await context.newPage();
      await page.goto(`${stack.url}/containers`);
      const watched = hosts[0] as SimulatedHost;
      await page.getByPlaceholder('name, image or host').fill(watched.container.name);
      const cell = page.locator('[data-testid=container-state]');
      await page.waitForFunction(
        () => document.querySelectorAll('[data-testid=container-state]').length === 1,
        undefined,
        { timeout: 30_000 },
      );
      // Let the page's stream open before the first change.
      await new Promise((r) => setTimeout(r, 1000));
      for (let n = 0; n < Math.min(changeCount, 30); n++) {
        await new Promise((r) => setTimeout(r, 250));
        const t0 = performance.now();
        const state = watched.flip();
        await page.waitForFunction(
          (wanted) => document.querySelector('[data-testid=container-state]')?.textContent?.includes(wanted),
          state,
          { timeout: 30_000, polling: 'raf' },
        );
        onScreen.push(performance.now() - t0);
      }
      if ((await cell.count()) !== 1) throw new Error('the page lost the watched row');
    } finally {
      await browser.close();
    }

    const logHost = hosts[0] as SimulatedHost;
    const abort = new AbortController();
    const sse = await fetch(
      `${stack.url}/api/logs?teamId=${team.id}&hostId=${hostIds[0]}&containerId=${logHost.container.id}&tail=0`,
      { headers: { cookie }, signal: abort.signal },
    );
    if (!sse.ok || !sse.body) throw new Error(`logs: ${sse.status}`);
    const reader = sse.body.getReader();
    const sentAt = new Map<string, number>();
    const latencies: number[] = [];
    const reading = (async () => {
      const decoder = new TextDecoder();
      let buffered = '';
      while (latencies.length < lineCount) {
        const { value, done } = await reader.read();
        if (done) break;
        buffered += decoder.decode(value, { stream: true });
        for (const match of buffered.matchAll(/bt-line-(\d+)/g)) {
          const sent = sentAt.get(match[1] as string);
          if (sent !== undefined) {
            latencies.push(performance.now() - sent);
            sentAt.delete(match[1] as string);
          }
        }
        buffered = buffered.slice(buffered.lastIndexOf('\n') + 1);
      }
    })();
    while (!logHost.lineSink) await new Promise((r) => setTimeout(r, 20));
    for (let n = 0; n < lineCount; n++) {
      sentAt.set(String(n), performance.now());
      await logHost.lineSink?.(`bt-line-${n}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await reading;
    abort.abort();

    const perAgentKiB = ((after - before) * 1024) / agentCount;
    console.info(`agents=${agentCount} online in ${connectSeconds.toFixed(1)} s`);
    console.info(
      `control plane RSS: ${before.toFixed(0)} MiB before, ${after.toFixed(0)} MiB with every agent (${perAgentKiB.toFixed(1)} KiB per agent; target: 10,000 agents under 1536 MiB)`,
    );
    console.info(
      `state change → containers list: p50 ${percentile(reflections, 50).toFixed(0)} ms, p99 ${percentile(reflections, 99).toFixed(0)} ms over ${reflections.length} changes (target p99 < 1000 ms)`,
    );
    console.info(
      `state change → live push event + one refetch (an open page): p50 ${percentile(pushed, 50).toFixed(0)} ms, p99 ${percentile(pushed, 99).toFixed(0)} ms over ${pushed.length} changes (target p99 < 1000 ms)`,
    );
    console.info(
      `state change → on screen in Chromium (Containers page): p50 ${percentile(onScreen, 50).toFixed(0)} ms, p99 ${percentile(onScreen, 99).toFixed(0)} ms over ${onScreen.length} changes (the page also polls every 2 s)`,
    );
    console.info(
      `log line agent → browser (SSE): p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms over ${latencies.length} lines (target p50 < 200 ms)`,
    );
    await prisma.$disconnect();
  } finally {
    for (const link of links) await link.close().catch(() => {});
    await database.stop();
    await rm(root, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
