/**
 * The fleet pages in Chromium over the real stack and a real agent: the Containers page lists a container the
 * agent runs and restarts/stops it from there; an invited viewer sees the fleet but has no actions and the
 * server refuses them; a second team does not see the first team's hosts; an admin revokes the host and its agent
 * is disconnected and refused.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pushBusybox } from '@berth/engine/testing/index';
import type { Page } from 'playwright-core';
import { type AgentBench, signUpInvited, signUpOwner, startAgentBench } from './harness';

let bench: AgentBench;

/** A tRPC mutation from the page itself (its session cookie), as a hand-made request would be. */
function trpcMutation(page: Page, path: string, input: unknown): Promise<number> {
  return page.evaluate(
    async ({ path, input }) => {
      const response = await fetch(`/api/trpc/${path}?batch=1`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ 0: { json: input } }),
      });
      return response.status;
    },
    { path, input },
  );
}

function trpcQuery(page: Page, path: string, input: unknown): Promise<number> {
  return page.evaluate(
    async ({ path, input }) => {
      const query = encodeURIComponent(JSON.stringify({ 0: { json: input } }));
      return (await fetch(`/api/trpc/${path}?batch=1&input=${query}`)).status;
    },
    { path, input },
  );
}

before(async () => {
  bench = await startAgentBench('fleet', { containers: ['bt-e2e-fleet'] });
});

after(() => bench?.close());

test('fleet containers, an invited viewer, a second team, and a revoked host', async () => {
  const { stack, browser, registry, docker } = bench;
  const owner = await browser.newPage();
  await signUpOwner(owner, stack.url, { name: 'Ada Owner', email: 'ada@example.test', teamName: 'Core' });

  // A real agent enrols with the command the page gives.
  const agent = await bench.enrol(owner, { onlineWithin: 40_000 });

  const image = await pushBusybox(registry, 'bt-e2e/fleet:1');
  assert.equal((await docker(['pull', '-q', image])).code, 0);
  const run = await docker([
    'run',
    '-d',
    '--name',
    'bt-e2e-fleet',
    '--network',
    'none',
    '--label',
    'app=bt-fleet',
    image,
    'sleep',
    '1000',
  ]);
  assert.equal(run.code, 0, run.stderr);

  // The Containers page lists it; the label filter finds it; a restart from there restarts it on the host.
  await owner.click('nav >> text=Containers');
  const row = owner.locator('[data-testid=fleet-container-bt-e2e-fleet]');
  await row.waitFor({ timeout: 20_000 });
  await owner.fill('input[placeholder="app=web, tier"]', 'app=nothing-here');
  await owner.waitForSelector('[data-testid=containers-empty]');
  await owner.fill('input[placeholder="app=web, tier"]', 'app=bt-fleet');
  await row.waitFor();
  assert.equal(await row.locator('[data-testid=container-state]').textContent(), 'running');
  const startedAt = async () =>
    (await docker(['inspect', '-f', '{{.State.StartedAt}}', 'bt-e2e-fleet'])).stdout.trim();
  const before = await startedAt();
  await row.locator('button:has-text("Restart")').click();
  await owner.waitForSelector('[data-testid=toast]:has-text("Restart: done")', { timeout: 30_000 });
  assert.notEqual(await startedAt(), before, 'the container was not restarted on the host');
  await row.locator('button:has-text("Stop")').click();
  await owner.waitForSelector(
    '[data-testid=fleet-container-bt-e2e-fleet] [data-testid=container-state]:has-text("exited")',
    { timeout: 30_000 },
  );
  const state = await docker(['inspect', '-f', '{{.State.Status}}', 'bt-e2e-fleet']);
  assert.equal(state.stdout.trim(), 'exited');
  await row.locator('button:has-text("Start")').click();
  await owner.waitForSelector(
    '[data-testid=fleet-container-bt-e2e-fleet] [data-testid=container-state]:has-text("running")',
    { timeout: 30_000 },
  );

  // A bulk action on a selection (one host here; the selection may span hosts).
  await row.locator('input[type=checkbox]').check();
  await owner.waitForSelector('[data-testid=selection-count]:has-text("1 selected")');
  const beforeBulk = await startedAt();
  await owner.locator('[role=toolbar] button:has-text("Restart")').click();
  await owner.waitForSelector('[data-testid=toast]:has-text("Restart: 1 done")', { timeout: 30_000 });
  assert.notEqual(await startedAt(), beforeBulk, 'the bulk restart did not reach the host');

  // An image pulled on the host shows on the Images page (its event asks for a fresh inventory) and an
  // operator removes it from there.
  const spare = await pushBusybox(registry, 'bt-e2e/spare:1');
  assert.equal((await docker(['pull', '-q', spare])).code, 0);
  await owner.click('nav >> text=Images');
  await owner.fill('input[placeholder="tag, id or host"]', 'bt-e2e/spare');
  const spareRow = owner.locator('tr:has-text("bt-e2e/spare:1")');
  await spareRow.waitFor({ timeout: 20_000 });
  owner.once('dialog', (dialog) => void dialog.accept());
  await spareRow.locator('button:has-text("Remove")').click();
  await owner.waitForSelector('[data-testid=toast]:has-text("Image removed")', { timeout: 30_000 });
  await spareRow.waitFor({ state: 'detached', timeout: 20_000 });
  assert.notEqual((await docker(['image', 'inspect', spare])).code, 0, 'the image is still on the host');

  // Invite a viewer by link; they sign up with it in another browser.
  await owner.click('nav >> text=Team');
  await owner.selectOption('[data-testid=invite-form] select[name=role]', 'viewer');
  await owner.click('text=Create invitation link');
  const link = await owner.inputValue('[data-testid=invite-link]');
  assert.match(link, /\/invite\/[A-Za-z0-9_-]{43}$/);
  const viewerContext = await browser.newContext();
  const viewer = await viewerContext.newPage();
  await signUpInvited(viewer, link, { name: 'Vic Viewer', email: 'vic@example.test' });
  assert.equal(await viewer.textContent('[data-testid=my-role]'), 'viewer');
  await viewer.click('nav >> text=Containers');
  const seen = viewer.locator('[data-testid=fleet-container-bt-e2e-fleet]');
  await seen.waitFor({ timeout: 20_000 });
  assert.equal(
    await seen.locator('button', { hasText: /^(Start|Stop|Restart|Kill|Pause|Unpause|Remove)$/ }).count(),
    0,
    'a viewer sees no actions',
  );
  assert.equal(await viewer.locator('input[type=checkbox]').count(), 0, 'a viewer cannot select');
  // A hand-made request is refused by the server too.
  const hostId = (await seen.locator('a[href^="/hosts/"]').getAttribute('href'))?.split('/').pop();
  const me = await viewer.evaluate(async () => (await fetch('/api/trpc/me')).json());
  const teamId = (me as { result: { data: { json: { teams: Array<{ teamId: string }> } } } }).result.data.json
    .teams[0]?.teamId;
  const containerId = (await docker(['inspect', '-f', '{{.Id}}', 'bt-e2e-fleet'])).stdout.trim();
  assert.equal(
    await trpcMutation(viewer, 'containers.action', { teamId, hostId, containerId, action: 'stop' }),
    403,
  );
  assert.equal(
    (await docker(['inspect', '-f', '{{.State.Status}}', 'bt-e2e-fleet'])).stdout.trim(),
    'running',
  );
  // The link worked once.
  const again = await browser.newContext();
  const late = await again.newPage();
  await late.goto(link);
  await late.waitForSelector('[data-testid=invite-state]:has-text("already used")');
  await again.close();

  // A second team: its owner sees none of the first team's hosts, and its id is not the viewer's to read.
  await owner.fill('[data-testid=new-team-form] input[name=name]', 'Edge');
  await owner.click('text=Create team');
  await owner.waitForSelector('[data-testid=team-switcher]');
  await owner.waitForSelector('h1:has-text("Team Edge")');
  await owner.click('nav >> text=Hosts');
  await owner.waitForSelector('[data-testid=hosts-empty]');
  await owner.click('nav >> text=Containers');
  await owner.waitForSelector('[data-testid=containers-empty]');
  const edge = (
    (await owner.evaluate(async () => (await fetch('/api/trpc/me')).json())) as {
      result: { data: { json: { teams: Array<{ teamId: string; teamName: string }> } } };
    }
  ).result.data.json.teams.find((t) => t.teamName === 'Edge')?.teamId;
  assert.ok(edge);
  assert.equal(await trpcQuery(viewer, 'hosts.list', { teamId: edge }), 404);
  await owner.selectOption('[data-testid=team-switcher]', { label: 'Core' });
  await owner.waitForSelector('[data-testid=fleet-container-bt-e2e-fleet]');

  // Revoke: the agent is disconnected and refused; the host shows as revoked.
  await owner.goto(`${stack.url}/hosts/${hostId}`);
  owner.once('dialog', (dialog) => void dialog.accept());
  await owner.click('text=Revoke host');
  await owner.waitForSelector('[data-testid=host-status]:has-text("revoked")', { timeout: 20_000 });
  const deadline = Date.now() + 20_000;
  while (!agent.output().includes('refused this agent')) {
    if (Date.now() > deadline) throw new Error(`the agent was not refused:\n${agent.output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  await new Promise((r) => setTimeout(r, 3000));
  await owner.reload();
  await owner.waitForSelector('[data-testid=host-status]:has-text("revoked")');
  await viewerContext.close();
});
