/**
 * Live logs in Chromium over the real stack and a real agent: containers writing lines to stdout and stderr; the
 * log page opened from the Containers page shows a fresh line as it is written, marks stderr lines, filters,
 * pauses (no new lines, a count of waiting ones) and resumes, downloads what is loaded; the logs of a label merge
 * two containers' lines.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pushBusybox } from '@berth/engine/testing/index';
import type { Page } from 'playwright-core';
import { type AgentBench, signUpOwner, startAgentBench } from './harness';

let bench: AgentBench;
const names = ['bt-e2e-logs-a', 'bt-e2e-logs-b'];

before(async () => {
  bench = await startAgentBench('logs', { containers: names });
});

after(() => bench?.close());

/** The texts of the log rows in the DOM (only the rows on screen are rendered). */
function rowTexts(page: Page, stream?: 'stdout' | 'stderr'): Promise<string[]> {
  const selector = stream ? `[data-testid=log-line][data-stream=${stream}]` : '[data-testid=log-line]';
  return page.locator(selector).allTextContents();
}

/** The highest counter among rendered lines like "alpha out 12". */
async function newest(page: Page, prefix: string): Promise<number> {
  let best = -1;
  for (const text of await rowTexts(page)) {
    const match = new RegExp(`${prefix} (\\d+)`).exec(text);
    if (match) best = Math.max(best, Number(match[1]));
  }
  return best;
}

/** Descriptors the agent holds open on these files: a log follower holds one on its container's log. */
async function agentFilesOpen(home: string, paths: string[]): Promise<number> {
  // tsx runs the agent in a child of its own process; both carry the arguments.
  const pids = execFileSync('pgrep', ['-f', '--', `--data-root ${join(home, 'data')}`])
    .toString()
    .trim()
    .split('\n');
  let open = 0;
  for (const pid of pids)
    for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [])) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      if (target && paths.includes(target)) open++;
    }
  return open;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('live logs: fresh lines, stderr marked, filter, pause and resume, download, merged by label, closing and stopping end streams', async () => {
  const { stack, browser, registry, agentHome, docker } = bench;
  const context = await browser.newContext();
  const page = await context.newPage();
  await signUpOwner(page, stack.url, { name: 'Lou Logs', email: 'lou@example.test', teamName: 'Logs' });
  await bench.enrol(page, { onlineWithin: 40_000 });

  const image = await pushBusybox(registry, 'bt-e2e/logs:1');
  assert.equal((await docker(['pull', '-q', image])).code, 0);
  const scripts = [
    'i=0; while true; do echo "alpha out $i"; echo "alpha err $i" >&2; i=$((i+1)); sleep 0.5; done',
    'i=0; while true; do echo "beta out $i"; i=$((i+1)); sleep 0.5; done',
  ];
  for (const [i, name] of names.entries()) {
    const run = await docker([
      'run',
      '-d',
      '--name',
      name,
      '--network',
      'none',
      '--label',
      'app=bt-e2e-logs',
      image,
      'sh',
      '-c',
      scripts[i] as string,
    ]);
    assert.equal(run.code, 0, run.stderr);
  }

  // From the Containers page to one container's logs.
  await page.click('nav >> text=Containers');
  const row = page.locator(`[data-testid=fleet-container-${names[0]}]`);
  await row.waitFor({ timeout: 20_000 });
  await row.locator(`a[aria-label="Logs of ${names[0]}"]`).click();
  await page.waitForURL('**/logs?**');
  await page.waitForSelector('[data-testid=log-line]', { timeout: 20_000 });

  // A line the container writes after the page opened appears in it.
  const first = await newest(page, 'alpha out');
  await until('a fresh line', async () => (await newest(page, 'alpha out')) >= first + 2);

  // stderr lines are marked (attribute, colour and an "err" tag); stdout ones are not.
  const errors = await rowTexts(page, 'stderr');
  assert.ok(
    errors.length > 0 && errors.every((t) => t.includes('alpha err') && t.includes('err')),
    `${errors}`,
  );
  assert.ok((await rowTexts(page, 'stdout')).every((t) => t.includes('alpha out')));

  // The filter hides lines that do not match (substring, any case).
  await page.fill('input[aria-label="Filter lines"]', 'ALPHA ERR');
  await until('the filter', async () => (await rowTexts(page, 'stdout')).length === 0);
  assert.ok((await rowTexts(page)).every((t) => t.includes('alpha err')));
  await page.fill('input[aria-label="Filter lines"]', '');
  await until('the filter cleared', async () => (await rowTexts(page, 'stdout')).length > 0);

  // Paused: no new lines appear, the waiting ones are counted; resumed: they appear.
  await page.click('button:has-text("Pause")');
  // Lines that arrived just before the click are applied with the next 50 ms batch.
  await new Promise((r) => setTimeout(r, 300));
  const atPause = await newest(page, 'alpha out');
  await page.waitForSelector('[data-testid=log-waiting]:has-text("new lines waiting")');
  await until('lines waiting', async () => {
    const text = (await page.textContent('[data-testid=log-waiting]')) ?? '';
    return Number(text.split(' ')[0]) >= 4;
  });
  assert.equal(await newest(page, 'alpha out'), atPause, 'a line appeared while paused');
  await page.click('button:has-text("Resume")');
  await until('lines after resume', async () => (await newest(page, 'alpha out')) >= atPause + 2);

  // Download: a .log file with the loaded lines.
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.click('button:has-text("Download")'),
  ]);
  assert.match(download.suggestedFilename(), /\.log$/);
  const file = await readFile((await download.path()) as string, 'utf8');
  assert.match(file, /^\d{4}-\d\d-\d\dT\S+Z stdout alpha out \d+$/m);
  assert.match(file, /^\S+ stderr alpha err \d+$/m);

  // The logs of a label: both containers' lines, each with its container's name.
  await page.click('nav >> text=Containers');
  await page.fill('input[placeholder="app=web, tier"]', 'app=bt-e2e-logs');
  await page.click('a:has-text("Logs of these labels")');
  await page.waitForURL('**/logs?label=**');
  await until('lines of both containers', async () => {
    const texts = await rowTexts(page);
    return texts.some((t) => t.includes('alpha out')) && texts.some((t) => t.includes('beta out'));
  });
  const sources = await page.locator('[data-testid=log-source]').allTextContents();
  assert.ok(sources.some((s) => s.startsWith(names[0] as string)));
  assert.ok(sources.some((s) => s.startsWith(names[1] as string)));

  // Closing the page ends the streams on the agent: its log followers let go of the containers' logs.
  const logPaths: string[] = [];
  for (const name of names)
    logPaths.push((await docker(['inspect', '-f', '{{.LogPath}}', name])).stdout.trim());
  assert.ok(
    logPaths.every((p) => p.startsWith('/')),
    `${logPaths}`,
  );
  assert.equal(
    await agentFilesOpen(agentHome, logPaths),
    2,
    'one follower per container while the page is open',
  );
  // (A second page of the same session, for the last step, showing no logs yet.)
  const again = await context.newPage();
  await page.close();
  await until(
    'the agent to close its followers',
    async () => (await agentFilesOpen(agentHome, logPaths)) === 0,
  );

  // A container that stops ends its stream, and the page says so.
  await again.goto(`${stack.url}/containers`);
  await again.locator(`a[aria-label="Logs of ${names[1]}"]`).click();
  await again.waitForSelector('[data-testid=log-line]', { timeout: 20_000 });
  assert.equal((await docker(['kill', names[1] as string])).code, 0);
  await again.waitForSelector('[data-testid=log-status]:has-text("the container stopped")', {
    timeout: 20_000,
  });
  await context.close();
});
