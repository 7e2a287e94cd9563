/**
 * A container's detail page in Chromium over the real stack, a real agent and a real registry: opened from the
 * Containers page, it shows the inspect data as sections (env, labels, restart policy) and the state history,
 * which gains a restart and a die with its exit code when the container is restarted from the page; the logs
 * tab follows its output and the console tab opens a shell; "Recreate" with "pull latest image" picks up a newer
 * image pushed under the same tag and the page moves to the new container, under the same name (its output
 * shows the new image's env, its healthcheck came along); an invited viewer sees the page without actions,
 * recreate or console. Its healthcheck's status shows on the Containers page and in a Health section.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pushImage, versionedImage } from '@berth/engine/testing/index';
import { type AgentBench, signUpInvited, signUpOwner, startAgentBench } from './harness';

let bench: AgentBench;

before(async () => {
  bench = await startAgentBench('detail', { containers: ['bt-e2e-detail'] });
});

after(() => bench?.close());

test('container detail: inspect sections, state history after a restart, console, recreate with a newer image', async () => {
  const { stack, browser, registry, docker } = bench;
  const page = await browser.newPage();
  page.on('dialog', (dialog) => void dialog.accept());
  await signUpOwner(page, stack.url, { name: 'Ada Owner', email: 'ada@example.test', teamName: 'Core' });
  await bench.enrol(page, { onlineWithin: 40_000 });

  const image = `${registry.host}/bt-e2e/detail:stable`;
  await pushImage(image, await versionedImage('1', { Cmd: ['sh'] }));
  assert.equal((await docker(['pull', '-q', image])).code, 0);
  const run = await docker([
    'run',
    '-d',
    '--name',
    'bt-e2e-detail',
    '--network',
    'none',
    '--stop-timeout',
    '1',
    '--memory',
    '48m',
    '--restart',
    'unless-stopped',
    '-e',
    'MODE=e2e',
    '--label',
    'app=bt-detail',
    '--health-cmd',
    'test -e /version && echo version ok',
    '--health-interval',
    '300ms',
    image,
    'sh',
    '-c',
    'echo hello from version $APP_VERSION; exec sleep 1000',
  ]);
  assert.equal(run.code, 0, run.stderr);
  const firstId = run.stdout.trim();

  // From the Containers page, the name opens the container's page.
  await page.click('nav >> text=Containers');
  const row = page.locator('[data-testid=fleet-container-bt-e2e-detail]');
  await row.waitFor({ timeout: 20_000 });
  // Its healthcheck's status, as docker ps shows it, beside its state.
  await row.locator('[data-testid=container-health]:has-text("healthy")').waitFor({ timeout: 20_000 });
  await row.locator('[data-testid=container-link]').click();
  await page.waitForURL(`**/containers/*/${firstId}`);
  assert.equal(await page.textContent('[data-testid=container-name]'), 'bt-e2e-detail');
  await page.waitForSelector('[data-testid=inspect-status]:has-text("running")', { timeout: 20_000 });
  for (const section of ['state', 'image', 'env', 'ports', 'mounts', 'networks', 'limits', 'labels'])
    await page.locator(`[data-testid=inspect-${section}]`).waitFor();
  const env = (await page.textContent('[data-testid=inspect-env-table]')) ?? '';
  assert.match(env, /MODE\s*e2e/);
  assert.match(env, /APP_VERSION\s*1/);
  assert.match((await page.textContent('[data-testid=inspect-labels-table]')) ?? '', /app\s*bt-detail/);
  assert.equal(await page.textContent('[data-testid=inspect-restart-policy]'), 'unless-stopped');
  // The health section: status, the check, and the last probes with their output.
  await page.waitForSelector('[data-testid=inspect-health-status]:has-text("healthy")', { timeout: 20_000 });
  assert.match(
    (await page.textContent('[data-testid=inspect-health]')) ?? '',
    /test -e \/version && echo version ok/,
  );
  await page.waitForSelector('[data-testid=inspect-health-log] >> text=version ok', { timeout: 20_000 });
  const imageSection = (await page.textContent('[data-testid=inspect-image]')) ?? '';
  // Usage as docker stats shows it, refreshed from the agent: memory against the limit, then CPU once two
  // samples are in.
  await page.waitForSelector('[data-testid=usage-memory]:has-text("/ 48 MiB")', { timeout: 20_000 });
  await page.locator('[data-testid=usage-cpu] dd', { hasText: /^\d+\.\d%/ }).waitFor({ timeout: 20_000 });
  assert.match((await page.textContent('[data-testid=usage-pids]')) ?? '', /Processes\s*1/);

  // The history has what happened since the agent connected: created, then started.
  await page.waitForSelector('[data-testid=history-row][data-action=start]', { timeout: 20_000 });
  assert.equal(await page.locator('[data-testid=history-row][data-action=die]').count(), 0);

  // Restart from the page: the history gains the die (sleep ignores SIGTERM: killed, 137) and the restart.
  await page.click('[data-testid=container-actions] >> button:has-text("Restart")');
  await page.waitForSelector('[data-testid=history-row][data-action=restart]', { timeout: 30_000 });
  const died = page.locator('[data-testid=history-row][data-action=die]').first();
  await died.waitFor();
  assert.equal(await died.locator('[data-testid=history-exit-code]').textContent(), '137');
  // Newest first.
  assert.equal(
    await page.locator('[data-testid=history-row]').first().getAttribute('data-action'),
    'restart',
  );

  // The logs tab follows the container's output.
  await page.click('[role=tab]:has-text("Logs")');
  await page.waitForSelector('[data-testid=log-line]:has-text("hello from version 1")', { timeout: 20_000 });

  // The console tab opens a shell in the container.
  await page.click('[role=tab]:has-text("Console")');
  await page.waitForSelector('[data-testid=console-status]:has-text("open")', { timeout: 20_000 });
  await page.click('[role=tab]:has-text("Inspect (JSON)")');
  assert.match((await page.textContent('[data-testid=inspect-raw]')) ?? '', new RegExp(`"Id": "${firstId}"`));
  await page.click('[role=tab]:has-text("Overview")');

  // A newer image under the same tag; Recreate with "pull latest image" moves the page to the new container.
  await pushImage(image, await versionedImage('2', { Cmd: ['sh'] }));
  assert.equal(await page.isChecked('[data-testid=recreate-pull]'), true);
  await page.click('[data-testid=recreate-button]');
  await page.waitForURL((url) => !url.pathname.endsWith(firstId) && url.pathname.startsWith('/containers/'), {
    timeout: 60_000,
  });
  const secondId = page.url().split('/').at(-1) as string;
  assert.match(secondId, /^[0-9a-f]{64}$/);
  assert.notEqual(secondId, firstId);
  assert.equal(await page.textContent('[data-testid=container-name]'), 'bt-e2e-detail');
  assert.equal(await page.textContent('[data-testid=container-id]'), secondId.slice(0, 12));
  await page.waitForSelector('[data-testid=inspect-status]:has-text("running")', { timeout: 20_000 });
  const recreatedEnv = (await page.textContent('[data-testid=inspect-env-table]')) ?? '';
  assert.match(recreatedEnv, /MODE\s*e2e/);
  assert.match(recreatedEnv, /APP_VERSION\s*2/);
  assert.equal(await page.textContent('[data-testid=inspect-restart-policy]'), 'unless-stopped');
  assert.notEqual(await page.textContent('[data-testid=inspect-image]'), imageSection);
  // The healthcheck given to the container came along.
  await page.waitForSelector('[data-testid=container-health]:has-text("healthy")', { timeout: 20_000 });
  await page.click('[role=tab]:has-text("Logs")');
  await page.waitForSelector('[data-testid=log-line]:has-text("hello from version 2")', { timeout: 20_000 });

  // The host agrees: one container of that name, the new one, running the new image.
  const ps = await docker(['ps', '--no-trunc', '--filter', 'name=bt-e2e-detail', '--format', '{{.ID}}']);
  assert.equal(ps.stdout.trim(), secondId);

  // An invited viewer reads the same page, with no actions, no recreate and no console.
  const containerPage = new URL(page.url()).pathname;
  await page.click('nav >> text=Team');
  await page.selectOption('[data-testid=invite-form] select[name=role]', 'viewer');
  await page.click('text=Create invitation link');
  const link = await page.inputValue('[data-testid=invite-link]');
  const viewerContext = await browser.newContext();
  const viewer = await viewerContext.newPage();
  await signUpInvited(viewer, link, { name: 'Vic Viewer', email: 'vic@example.test' });
  await viewer.goto(new URL(containerPage, stack.url).toString());
  await viewer.waitForSelector('[data-testid=inspect-status]:has-text("running")', { timeout: 20_000 });
  await viewer.locator('[data-testid=state-history]').waitFor();
  assert.equal(await viewer.locator('[data-testid=container-actions]').count(), 0, 'a viewer has no actions');
  assert.equal(await viewer.locator('[data-testid=recreate-button]').count(), 0, 'a viewer cannot recreate');
  assert.equal(await viewer.locator('[role=tab]:has-text("Console")').count(), 0, 'a viewer has no console');
  await viewerContext.close();
  await page.close();
});
