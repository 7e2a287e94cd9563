/**
 * The whole journey of issue #9 in one test, through the browser only, against the production build:
 * the owner signs up; adds host A with an enrolment token (an agent started here in a `bt-` network namespace of
 * its own, with its own data root, socket and default bridge) and host B over SSH (a real sshd in another
 * namespace; the agent it installs has its own data root); stores a registry credential; pulls a private image
 * on both hosts, following the layers' progress; deploys a web container on each; restarts one from the
 * fleet-wide Containers page; tails its logs and sees the line of a request made after they opened; an invited
 * viewer sees all of it and can act on none of it; the owner of a second team sees nothing of it; the audit log
 * lists every step.
 *
 * The docker CLI and HTTP requests from here only prepare the private image and check results (the image is
 * really on each host, the web page really answers on each host's published port, the restart really happened).
 * The registry listens on this machine's loopback; a forwarder in each namespace makes it the namespace's own
 * 127.0.0.1:PORT, so both agents pull it over plain HTTP as Docker does for loopback registries.
 *
 * Full-page screenshots of every step are kept in e2e/artifacts/journey/ (NN-step.png, gitignored; a failed
 * step adds NN-failed-<page>.png).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  buildImage,
  buildLayer,
  busyboxEntries,
  pushImage,
  type StartedRegistry,
  startRegistry,
} from '@berth/engine/testing/index';
import { type SshdFixture, startSshd } from '@berth/web/testing/sshd';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import {
  cleanUp,
  docker,
  type EnrolledAgent,
  enrolAgentFromPage,
  launchChromium,
  removeDir,
  signUpInvited,
  signUpOwner,
} from './harness';
import { createNetns, type Forward, forwardHere, forwardInNetns, type Netns, sweepBelow } from './netns';
import { type Stack, startStack } from './stack';

const run = promisify(execFile);
const artifacts = fileURLToPath(new URL('../artifacts/journey', import.meta.url));
const password = 'a long enough password';
const registryUser = { username: 'bt-journey', password: 'bt-journey-secret' };
const webPort = 8080;
const marker = `Berth journey ${randomBytes(4).toString('hex')}`;
/** Host A's agent: a default bridge and user-network bridges of its own, on a subnet of its own. */
const bridgeA = `bt0-ja${randomBytes(2).toString('hex')}`;
const subnetA = `10.${randomInt(100, 150)}.${randomInt(0, 256)}.0/24`;
// The name enrolment gives a host: its hostname, as the control plane sanitises it.
const machineName = hostname()
  .replace(/[^a-zA-Z0-9._-]/g, '-')
  .slice(0, 60);

let work: string;
let stack: Stack | undefined;
let browser: Browser | undefined;
let registry: StartedRegistry | undefined;
let netnsA: Netns | undefined;
let sshd: SshdFixture | undefined;
let agentA: EnrolledAgent | undefined;
const forwards: Forward[] = [];
let image = '';

const dirA = () => join(work, 'a');
const dirB = () => join(work, 'b');
const socketA = () => join(dirA(), 'docker.sock');
const socketB = () => join(dirB(), 'docker.sock');
const dockerOn = (socket: string, args: string[]) => docker(socket, args, work);

/** The web image: busybox plus a page, served by busybox httpd, which logs every request's URL (-vv). */
async function pushWebImage(host: string): Promise<string> {
  const page = buildLayer([
    { path: 'var/', type: 'directory' },
    { path: 'var/www/', type: 'directory' },
    { path: 'var/www/index.html', content: `<h1>${marker}</h1>\n` },
  ]);
  const built = buildImage({
    layers: [await buildLayer(await busyboxEntries()), await page],
    config: {
      Cmd: ['httpd', '-f', '-vv', '-p', '80', '-h', '/var/www'],
      ExposedPorts: { '80/tcp': {} },
      // httpd, PID 1 without a handler, ignores SIGTERM: a restart would wait out Docker's 10 s grace.
      StopSignal: 'SIGKILL',
    },
  });
  const reference = `${host}/bt-e2e/journey-web:1`;
  await pushImage(reference, built, { credentials: registryUser });
  return reference;
}

/** Stops the agent the SSH install started, by the pid file it keeps beside its files. */
async function stopAgentB(): Promise<void> {
  const pid = Number((await readFile(join(dirB(), 'opt', 'agent.pid'), 'utf8').catch(() => '')).trim());
  if (!pid || !existsSync(`/proc/${pid}`)) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 60 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 250));
}

async function httpGet(url: string, timeoutMs = 20_000): Promise<{ status: number; body: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(3000) });
      return { status: response.status, body: await response.text() };
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${url} did not answer: ${(error as Error).message}`);
      await new Promise((r) => setTimeout(r, 300));
    }
  }
}

/** A tRPC mutation sent by the page itself, with its session, as a hand-made request from that user would be. */
function trpcMutation(page: Page, path: string, input: unknown): Promise<number> {
  return page.evaluate(
    async ({ path, input }) =>
      (
        await fetch(`/api/trpc/${path}?batch=1`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ 0: { json: input } }),
        })
      ).status,
    { path, input },
  );
}

function trpcQuery(page: Page, path: string, input: unknown): Promise<number> {
  return page.evaluate(
    async ({ path, input }) =>
      (
        await fetch(
          `/api/trpc/${path}?batch=1&input=${encodeURIComponent(JSON.stringify({ 0: { json: input } }))}`,
        )
      ).status,
    { path, input },
  );
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-e2e-journey-'));
  // PostgreSQL and the SSH user reach files below this one.
  await chmod(work, 0o755);
  await rm(artifacts, { recursive: true, force: true });
  await mkdir(artifacts, { recursive: true });
  registry = await startRegistry({
    auth: 'htpasswd',
    users: { [registryUser.username]: registryUser.password },
  });
  const registryPort = Number(registry.host.split(':')[1]);
  image = await pushWebImage(registry.host);
  netnsA = await createNetns('ja');
  sshd = await startSshd(join(work, 'sshd'));
  for (const [netns, hostAddress] of [
    [netnsA.name, netnsA.hostAddress],
    [sshd.netns, sshd.hostAddress],
  ] as const) {
    forwards.push(
      await forwardHere({ host: hostAddress, port: registryPort }, { host: '127.0.0.1', port: registryPort }),
    );
    forwards.push(await forwardInNetns(netns, registryPort, { host: hostAddress, port: registryPort }));
  }
  // Both namespaces reach this machine's end of the sshd's veth, so the agents dial the control plane there.
  stack = await startStack({ localAgent: false, publicHost: sshd.hostAddress });
  browser = await launchChromium();
});

/** Removes a host's web container, if that host's agent ever got as far as its socket. */
function removeWeb(socket: () => string, name: string): () => Promise<unknown> | undefined {
  return () => (work && existsSync(socket()) ? dockerOn(socket(), ['rm', '-f', name]) : undefined);
}

after(() =>
  cleanUp(
    // Containers first (their conmon holds the namespaces), then the agents, then what they ran in.
    removeWeb(socketA, 'bt-web-a'),
    removeWeb(socketB, 'bt-web-b'),
    () => agentA?.stop(),
    stopAgentB,
    () => browser?.close(),
    () => stack?.[Symbol.asyncDispose](),
    ...forwards.map((forward) => () => forward.close()),
    // What a failure half-way may leave: containers runc still holds, mounts below the work directory.
    () =>
      work
        ? sweepBelow(work, [join(dirA(), 'data', 'run', 'runc'), join(dirB(), 'data', 'run', 'runc')])
        : undefined,
    () => sshd?.close(),
    () => netnsA?.close(),
    () => registry?.[Symbol.asyncDispose](),
    () => removeDir(work),
  ),
);

// A bound, so a hang fails the test and the cleanup still runs (under a minute is usual here).
const journeyTimeout = 8 * 60_000;

test('the journey: sign up, two hosts (token and SSH), a private image on both, deploy, restart, logs, a viewer, a second team, the audit log', {
  timeout: journeyTimeout,
}, async (t) => {
  assert.ok(stack && browser && sshd && netnsA);
  const url = stack.url.replace('localhost', '127.0.0.1');
  const owner = await browser.newPage();
  const contexts: BrowserContext[] = [];
  let viewer: Page | undefined;
  let stranger: Page | undefined;
  const hosts = { a: { id: '', address: netnsA.address }, b: { id: '', address: sshd.address } };
  let coreTeamId = '';
  let shots = 0;
  let failed = false;

  const shot = async (name: string, page: Page = owner) => {
    shots += 1;
    await page.screenshot({
      path: join(artifacts, `${String(shots).padStart(2, '0')}-${name}.png`),
      fullPage: true,
    });
  };
  /** One step of the journey; once one fails the rest are skipped (they build on it). */
  const step = (name: string, body: () => Promise<void>) =>
    t.test(name, { skip: failed ? 'an earlier step failed' : false }, async () => {
      try {
        await body();
      } catch (error) {
        failed = true;
        for (const [label, page] of [
          ['owner', owner],
          ['viewer', viewer],
          ['stranger', stranger],
        ] as const)
          if (page && !page.isClosed()) await shot(`failed-${label}`, page).catch(() => undefined);
        throw error;
      }
    });
  const startedAt = async (name: string) =>
    (await dockerOn(socketA(), ['inspect', '-f', '{{.State.StartedAt}}', name])).stdout.trim();
  const openHost = async (which: 'a' | 'b') => {
    await owner.goto(`${url}/hosts/${hosts[which].id}`);
    await owner.waitForSelector(`[data-testid=host-name]:has-text("host-${which}")`);
  };

  try {
    await step('the owner signs up', async () => {
      await signUpOwner(owner, url, {
        name: 'Ada Owner',
        email: 'ada@example.test',
        password: password,
        teamName: 'Core',
      });
      await owner.waitForSelector('[data-testid=hosts-empty]');
      await shot('signed-up');
    });

    await step('host A enrols with a token from the page', async () => {
      agentA = await enrolAgentFromPage(owner, dirA(), {
        netns: netnsA?.name as string,
        args: ['--bridge-name', bridgeA, '--bridge-subnet', subnetA, '--bridge-prefix', 'bt-ja-'],
      });
      await shot('enrolment-command');
      await owner
        .waitForSelector(`[data-testid=host-${machineName}] [data-testid=host-status]:has-text("online")`, {
          timeout: 60_000,
        })
        .catch(() => {
          throw new Error(`host A did not come online; agent output:\n${agentA?.output()}`);
        });
      await owner.click(`[data-testid=host-${machineName}] a`);
      await owner.waitForURL('**/hosts/*-*');
      hosts.a.id = owner.url().split('/').pop() as string;
      await owner.fill('[data-testid=rename-form] input[name=name]', 'host-a');
      await owner.click('[data-testid=rename-form] button[type=submit]');
      await owner.waitForSelector('[data-testid=host-name]:has-text("host-a")');
      await shot('host-a');
    });

    await step('host B is added over SSH', async () => {
      const ssh = sshd as SshdFixture;
      await owner.click('nav >> text=Hosts');
      await owner.click('[data-testid=add-ssh-link]');
      await owner.waitForURL('**/hosts/add-ssh');
      const form = owner.locator('[data-testid=ssh-form]');
      await form.locator('input[name=host]').fill(ssh.address);
      await form.locator('input[name=username]').fill('root');
      await form.locator('textarea[name=privateKey]').fill(ssh.rootKey);
      await form.locator('summary').click();
      await form.locator('input[name=prefix]').fill(join(dirB(), 'opt'));
      await form.locator('input[name=dataRoot]').fill(join(dirB(), 'data'));
      await form.locator('input[name=dockerSocket]').fill(socketB());
      await owner.click('text=Check the host key');
      const fingerprint = await owner.textContent('[data-testid=host-key-fingerprint]', { timeout: 20_000 });
      assert.equal(fingerprint?.trim(), ssh.fingerprint);
      await shot('ssh-host-key');
      await owner.click('text=Confirm the key and install');
      await owner.waitForSelector('[data-testid=ssh-run]:not([data-status=running])', { timeout: 120_000 });
      await shot('ssh-steps');
      const runBox = owner.locator('[data-testid=ssh-run]');
      assert.equal(await runBox.getAttribute('data-status'), 'succeeded', (await runBox.textContent()) ?? '');
      await owner.click('text=See it on the Hosts page');
      await owner.waitForURL('**/hosts');
      // The list shows host A's new name once it refetched; only then is the machine's name host B's.
      await owner.waitForSelector('[data-testid=host-host-a]');
      await owner.waitForSelector(
        `[data-testid=host-${machineName}] [data-testid=host-status]:has-text("online")`,
        {
          timeout: 30_000,
        },
      );
      await owner.click(`[data-testid=host-${machineName}] a`);
      await owner.waitForURL('**/hosts/*-*');
      hosts.b.id = owner.url().split('/').pop() as string;
      assert.notEqual(hosts.b.id, hosts.a.id);
      await owner.fill('[data-testid=rename-form] input[name=name]', 'host-b');
      await owner.click('[data-testid=rename-form] button[type=submit]');
      await owner.waitForSelector('[data-testid=host-name]:has-text("host-b")');
      await owner.click('nav >> text=Hosts');
      for (const which of ['a', 'b'])
        await owner.waitForSelector(
          `[data-testid=host-host-${which}] [data-testid=host-status]:has-text("online")`,
        );
      await shot('two-hosts');
    });

    await step('the owner stores the registry credential', async () => {
      // The image is private: without credentials the host cannot pull it.
      const refused = await dockerOn(socketA(), ['pull', image]);
      assert.notEqual(refused.code, 0, 'the private image was pulled without credentials');
      await owner.click('nav >> text=Registries');
      await owner.fill('[data-testid=registry-form] input[name=serverAddress]', registry?.host as string);
      await owner.fill('[data-testid=registry-form] input[name=username]', registryUser.username);
      await owner.fill('[data-testid=registry-form] input[name=password]', registryUser.password);
      await owner.click('[data-testid=registry-form] button[type=submit]');
      await owner.waitForSelector(`[data-testid=registries-table] >> text=${registry?.host}`);
      assert.ok(
        !(await owner.content()).includes(registryUser.password),
        'the password came back to the browser',
      );
      await shot('registry-credential');
    });

    await step('the private image is pulled on both hosts, with progress', async () => {
      await owner.click('nav >> text=Images');
      await owner.click('text=Pull an image');
      await owner.fill('[data-testid=pull-form] input[name=reference]', image);
      for (const which of ['a', 'b'])
        await owner
          .locator(`[data-testid=pull-form] label:has-text("host-${which}") input[type=checkbox]`)
          .check();
      await owner.click('[data-testid=pull-form] button:has-text("Pull")');
      for (const which of ['a', 'b']) {
        const row = owner.locator(`[data-testid=pull-host-${which}]`);
        await owner
          .waitForSelector(`[data-testid=pull-host-${which}]:has-text("succeeded")`, { timeout: 90_000 })
          .catch(async () => {
            throw new Error(`the pull on host-${which} did not succeed: ${await row.textContent()}`);
          });
        // Two layers (busybox and the page), each with its own bar.
        assert.ok((await row.locator('progress').count()) >= 2, `no per-layer progress on host-${which}`);
      }
      await shot('pulled');
      for (const socket of [socketA(), socketB()]) {
        const inspected = await dockerOn(socket, ['image', 'inspect', '-f', '{{.Id}}', image]);
        assert.equal(inspected.code, 0, `${socket}: ${inspected.stderr}`);
      }
      await owner.click('text=Close');
      await owner.fill('input[placeholder="tag, id or host"]', 'journey-web');
      await owner.waitForFunction(
        (tag) => document.querySelectorAll(`[data-testid="image-${tag}"]`).length === 2,
        image,
        { timeout: 20_000 },
      );
      await shot('images');
    });

    await step('a web container is deployed on each host', async () => {
      for (const which of ['a', 'b'] as const) {
        await openHost(which);
        await owner.click('text=Deploy a container');
        await owner.fill('[data-testid=deploy-form] input[name=image]', image);
        await owner.fill('[data-testid=deploy-form] input[name=name]', `bt-web-${which}`);
        await owner.fill('[data-testid=deploy-form] input[name=ports]', `${webPort}:80`);
        await shot(`deploy-form-${which}`);
        await owner.click('[data-testid=deploy-form] button[type=submit]');
        await owner
          .waitForSelector(
            `[data-testid=fleet-container-bt-web-${which}] [data-testid=container-state]:has-text("running")`,
            { timeout: 60_000 },
          )
          .catch(async () => {
            const error = await owner.textContent('[data-testid=deploy-error]').catch(() => null);
            throw new Error(`bt-web-${which} did not run: ${error ?? 'no error shown'}`);
          });
        const page = await httpGet(`http://${hosts[which].address}:${webPort}/`);
        assert.equal(page.status, 200);
        assert.ok(page.body.includes(marker), page.body);
        await shot(`deployed-${which}`);
      }
      // Two agents on one kernel, apart: A's default bridge is the one its flags name, on its subnet, and exists
      // only in A's namespace; B's is the default berth0, only in the sshd's namespace.
      await run('ip', ['-n', netnsA?.name as string, 'link', 'show', bridgeA]);
      await run('ip', ['-n', sshd?.netns as string, 'link', 'show', 'berth0']);
      await assert.rejects(run('ip', ['link', 'show', bridgeA]));
      await assert.rejects(run('ip', ['-n', sshd?.netns as string, 'link', 'show', bridgeA]));
      const ipA = (
        await dockerOn(socketA(), ['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'bt-web-a'])
      ).stdout.trim();
      assert.ok(ipA.startsWith(subnetA.split('.').slice(0, 3).join('.')), `${ipA} is not in ${subnetA}`);
    });

    await step('bt-web-a is restarted from the fleet-wide Containers page', async () => {
      await owner.click('nav >> text=Containers');
      const row = owner.locator('[data-testid=fleet-container-bt-web-a]');
      await row.waitFor({ timeout: 20_000 });
      await owner.waitForSelector('[data-testid=fleet-container-bt-web-b]');
      const before = await startedAt('bt-web-a');
      await row.locator('button:has-text("Restart")').click();
      await owner.waitForSelector('[data-testid=toast]:has-text("Restart: done")', { timeout: 30_000 });
      assert.notEqual(await startedAt('bt-web-a'), before, 'bt-web-a was not restarted on host A');
      await owner.waitForSelector(
        '[data-testid=fleet-container-bt-web-a] [data-testid=container-state]:has-text("running")',
      );
      const page = await httpGet(`http://${hosts.a.address}:${webPort}/`);
      assert.ok(page.body.includes(marker));
      await shot('restarted');
    });

    await step('its logs are tailed and a fresh line arrives', async () => {
      await owner.click('nav >> text=Hosts');
      await owner.locator('[data-testid=container-bt-web-a] button:has-text("Logs")').click();
      await owner.waitForSelector('[data-testid=logs-panel]:has-text("url:/")', { timeout: 15_000 });
      // A request made now, with a path nobody asked for before: its line can only come from the live tail.
      const fresh = `/bt-fresh-${randomBytes(4).toString('hex')}`;
      assert.equal((await httpGet(`http://${hosts.a.address}:${webPort}${fresh}`)).status, 404);
      await owner.waitForSelector(`[data-testid=logs-panel]:has-text("url:${fresh}")`, { timeout: 15_000 });
      await shot('logs');
    });

    await step('an invited viewer sees everything and can act on nothing', async () => {
      await owner.click('nav >> text=Team');
      await owner.selectOption('[data-testid=invite-form] select[name=role]', 'viewer');
      await owner.click('text=Create invitation link');
      const link = await owner.inputValue('[data-testid=invite-link]');
      const context = await (browser as Browser).newContext();
      contexts.push(context);
      viewer = await context.newPage();
      await signUpInvited(viewer, link, { name: 'Vic Viewer', email: 'vic@example.test', password });
      assert.equal(await viewer.textContent('[data-testid=my-role]'), 'viewer');
      for (const which of ['a', 'b'])
        await viewer.waitForSelector(
          `[data-testid=host-host-${which}] [data-testid=host-status]:has-text("online")`,
        );
      await viewer.waitForSelector('[data-testid=container-bt-web-a]');
      assert.equal(await viewer.locator('text=Add a host').count(), 0, 'a viewer cannot add hosts');
      await shot('viewer-hosts', viewer);

      await viewer.click('nav >> text=Containers');
      for (const which of ['a', 'b']) {
        const row = viewer.locator(`[data-testid=fleet-container-bt-web-${which}]`);
        await row.waitFor({ timeout: 20_000 });
        assert.equal(
          await row
            .locator('button', { hasText: /^(Start|Stop|Restart|Kill|Pause|Unpause|Remove)$/ })
            .count(),
          0,
          'a viewer sees no actions',
        );
        assert.equal(await row.locator('text=Console').count(), 0, 'a viewer gets no console');
      }
      assert.equal(await viewer.locator('input[type=checkbox]').count(), 0, 'a viewer cannot select');
      await shot('viewer-containers', viewer);

      await viewer.goto(`${url}/hosts/${hosts.a.id}`);
      await viewer.waitForSelector('[data-testid=fleet-container-bt-web-a]');
      assert.equal(await viewer.locator('text=Deploy a container').count(), 0, 'a viewer cannot deploy');
      assert.equal(await viewer.locator('[data-testid=rename-form]').count(), 0, 'a viewer cannot rename');
      // What the page does not offer, the server refuses too: a restart sent from the viewer's page.
      const me = (await viewer.evaluate(async () => (await fetch('/api/trpc/me')).json())) as {
        result: { data: { json: { teams: Array<{ teamId: string }> } } };
      };
      coreTeamId = me.result.data.json.teams[0]?.teamId ?? '';
      const containerId = (await dockerOn(socketA(), ['inspect', '-f', '{{.Id}}', 'bt-web-a'])).stdout.trim();
      const before = await startedAt('bt-web-a');
      assert.equal(
        await trpcMutation(viewer, 'containers.action', {
          teamId: coreTeamId,
          hostId: hosts.a.id,
          containerId,
          action: 'restart',
        }),
        403,
      );
      assert.equal(await startedAt('bt-web-a'), before, 'the viewer restarted the container');
      await viewer.click('nav >> text=Audit');
      await viewer.waitForSelector("text=The audit log is for the team's owners and admins.");
      await shot('viewer-host-a', viewer);
    });

    await step('the owner of a second team sees nothing of the first', async () => {
      await owner.click('nav >> text=Team');
      await owner.fill('[data-testid=new-team-form] input[name=name]', 'Edge');
      await owner.click('text=Create team');
      await owner.waitForSelector('h1:has-text("Team Edge")');
      // The viewer's link (for Core, used) is gone with the switch; the one made now is Edge's.
      assert.equal(await owner.locator('[data-testid=invite-link]').count(), 0, "Core's link is still shown");
      await owner.selectOption('[data-testid=invite-form] select[name=role]', 'owner');
      await owner.click('text=Create invitation link');
      const link = await owner.inputValue('[data-testid=invite-link]');
      const context = await (browser as Browser).newContext();
      contexts.push(context);
      stranger = await context.newPage();
      await signUpInvited(stranger, link, { name: 'Eve Edge', email: 'eve@example.test', password });
      assert.equal(await stranger.textContent('[data-testid=my-role]'), 'owner');
      await stranger.waitForSelector('[data-testid=hosts-empty]');
      await shot('second-team-hosts', stranger);
      await stranger.click('nav >> text=Containers');
      await stranger.waitForSelector('[data-testid=containers-empty]');
      await stranger.click('nav >> text=Images');
      await stranger.waitForSelector('[data-testid=images-empty]');
      await stranger.click('nav >> text=Registries');
      await stranger.waitForSelector('[data-testid=registries-table]');
      assert.ok(!((await stranger.textContent('main')) ?? '').includes(registry?.host as string));
      await stranger.click('nav >> text=Audit');
      await stranger.waitForSelector('[data-testid=audit-table] >> text=team.invitation_accepted');
      const audit = (await stranger.textContent('[data-testid=audit-table]')) ?? '';
      // (Ada made this team and invited Eve: those two entries are its own.)
      for (const foreign of ['host.', 'container.', 'image.', 'registry.', 'host-a', 'vic@example.test'])
        assert.ok(!audit.includes(foreign), `the second team's audit log shows ${foreign}`);
      await shot('second-team-audit', stranger);
      // Nor by hand: the first team's hosts and containers are not there for this user.
      assert.equal(await trpcQuery(stranger, 'hosts.list', { teamId: coreTeamId }), 404);
      const containerId = (await dockerOn(socketB(), ['inspect', '-f', '{{.Id}}', 'bt-web-b'])).stdout.trim();
      const status = await trpcMutation(stranger, 'containers.action', {
        teamId: coreTeamId,
        hostId: hosts.b.id,
        containerId,
        action: 'stop',
      });
      assert.equal(status, 404);
      assert.equal(
        (await dockerOn(socketB(), ['inspect', '-f', '{{.State.Status}}', 'bt-web-b'])).stdout.trim(),
        'running',
      );
      await owner.selectOption('[data-testid=team-switcher]', { label: 'Core' });
      await owner.waitForSelector('h1:has-text("Team Core")');
    });

    await step('the audit log lists every step', async () => {
      await owner.click('nav >> text=Audit');
      await owner.waitForSelector('[data-testid=audit-table] >> text=container.restart');
      await shot('audit');
      const filter = owner.locator('input[placeholder^=container]');
      const rowsFor = async (prefix: string): Promise<string[]> => {
        await filter.fill(prefix);
        await owner.waitForFunction(
          (prefix) => {
            const rows = [...document.querySelectorAll('[data-testid=audit-table] tbody tr')];
            return rows.length > 0 && rows.every((r) => r.children[2]?.textContent?.startsWith(prefix));
          },
          prefix,
          { timeout: 10_000 },
        );
        return owner.locator('[data-testid=audit-table] tbody tr').allTextContents();
      };
      const expect = async (prefix: string, ...needles: string[][]) => {
        const rows = await rowsFor(prefix);
        for (const needle of needles)
          assert.ok(
            rows.some((row) => needle.every((n) => row.includes(n))),
            `no ${prefix} entry with ${needle.join(' and ')}:\n${rows.join('\n')}`,
          );
      };
      await expect('auth.sign_up', ['ada@example.test']);
      await expect('host.enrollment_token', ['ada@example.test']);
      await expect('host.enrolled', [hosts.a.id], [hosts.b.id]);
      await expect('host.ssh_key_pinned', [sshd?.fingerprint as string]);
      await expect('host.ssh_installed', [hosts.b.id]);
      await expect('host.ssh_install', [`${sshd?.address}`]);
      await expect('host.rename', [hosts.a.id], [hosts.b.id]);
      await expect('registry.save', [registry?.host as string, 'ada@example.test']);
      await expect('image.pull', ['"host":"host-a"', '"ok":true'], ['"host":"host-b"', '"ok":true']);
      await expect(
        'container.deploy',
        ['"host":"host-a"', '"name":"bt-web-a"', '"ok":true'],
        ['"host":"host-b"', '"name":"bt-web-b"', '"ok":true'],
      );
      await expect('container.restart', ['"host":"host-a"', '"ok":true']);
      await expect('team.invite', ['ada@example.test']);
      await expect('team.invitation_accepted', ['vic@example.test']);
      await filter.fill('');
      await shot('audit-all');
    });
  } finally {
    for (const context of contexts) await context.close().catch(() => undefined);
  }
});
