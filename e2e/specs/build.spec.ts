/**
 * Building an image from the browser: a Dockerfile with a COPY of a file uploaded from the page and a RUN,
 * built on an agent enrolled from the page. The steps show as they happen with the RUN's output, the image
 * lands on the Images page, and the docker CLI on the agent's socket runs it. A failing RUN shows its output
 * and exit code and tags nothing.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { pushBusybox, tarBytes } from '@berth/engine/testing/index';
import type { Page } from 'playwright-core';
import { type AgentBench, signUpOwner, startAgentBench } from './harness';

let bench: AgentBench;

before(async () => {
  bench = await startAgentBench('build');
});

after(() => bench?.close());

async function startBuild(page: Page, dockerfile: string, tags: string): Promise<void> {
  await page.goto(`${bench.stack.url}/images`);
  await page.click('text=Build an image');
  await page.waitForURL('**/images/build');
  await page.waitForSelector('select[name=host] option:nth-child(2)', { state: 'attached', timeout: 20_000 });
  await page.selectOption('select[name=host]', { index: 1 });
  await page.fill('textarea[name=dockerfile]', dockerfile);
  await page.fill('input[name=tags]', tags);
  // RUN steps without a network: the agent here has no test-named bridge to give them.
  await page.selectOption('select[name=network]', 'none');
}

test('an operator builds an image from the page, follows its steps, sees it listed and runs it', async () => {
  const { stack, browser, registry, docker } = bench;
  const page = await browser.newPage();
  await signUpOwner(page, stack.url, { name: 'Ada Builder', email: 'ada.builder@example.test' });
  await bench.enrol(page, { onlineWithin: 30_000 });
  const base = await pushBusybox(registry, 'bt-e2e/busybox:1');

  await startBuild(
    page,
    [
      `FROM ${base}`,
      'COPY greeting.txt /greeting.txt',
      'RUN echo "the RUN step says hi" && sleep 3 && wc -c < /greeting.txt',
      'CMD ["cat", "/greeting.txt"]',
    ].join('\n'),
    'bt-e2e/built:1 bt-e2e/built:extra',
  );
  await page.setInputFiles('input[name=files]', {
    name: 'greeting.txt',
    mimeType: 'text/plain',
    buffer: Buffer.from('hello from the browser\n'),
  });
  await page.waitForSelector('[data-testid=context-summary]:has-text("1 file(s)")');
  await page.click('[data-testid=build-form] button[type=submit]');

  // Live: the RUN's first line shows while it still runs.
  await page.waitForSelector('[data-testid=build-output-3]:has-text("the RUN step says hi")', {
    timeout: 60_000,
  });
  assert.equal(await page.textContent('[data-testid=build-state]'), 'running');
  assert.match((await page.textContent('[data-testid=build-step-3]')) ?? '', /Step 3\/4 : RUN .*built/);
  await page.waitForSelector('[data-testid=build-state]:has-text("succeeded")', { timeout: 120_000 });
  assert.match((await page.textContent('[data-testid=build-step-1]')) ?? '', /Step 1\/4 : FROM /);
  assert.match(
    (await page.textContent('[data-testid=build-step-2]')) ?? '',
    /Step 2\/4 : COPY greeting\.txt \/greeting\.txt\s*built/,
  );
  assert.match(
    (await page.textContent('[data-testid=build-output-3]')) ?? '',
    /the RUN step says hi\n\s*23\n/,
  );
  const result = (await page.textContent('[data-testid=build-result]')) ?? '';
  assert.match(result, /Built sha256:[0-9a-f]{64}/);
  assert.match(result, /bt-e2e\/built:1/);
  assert.match(result, /bt-e2e\/built:extra/);

  // The Images page lists it (the agent's inventory after the build).
  await page.click('text=See it on the Images page');
  await page.waitForURL('**/images');
  await page.waitForSelector('text=bt-e2e/built:1', { timeout: 30_000 });

  const run = await docker(['run', '--rm', '--network', 'none', 'bt-e2e/built:1']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, 'hello from the browser\n');

  // A context given as a .tar.gz archive goes to the agent as it is.
  await startBuild(
    page,
    `FROM ${base}\nCOPY data/ /data/\nCMD ["cat", "/data/note.txt"]\n`,
    'bt-e2e/archive:1',
  );
  await page.setInputFiles('input[name=archive]', {
    name: 'context.tar.gz',
    mimeType: 'application/gzip',
    buffer: gzipSync(await tarBytes([{ path: 'data/note.txt', content: 'from an archive\n' }])),
  });
  await page.waitForSelector('[data-testid=context-summary]:has-text("context.tar.gz")');
  await page.click('[data-testid=build-form] button[type=submit]');
  await page.waitForSelector('[data-testid=build-state]:has-text("succeeded")', { timeout: 120_000 });
  const fromArchive = await docker(['run', '--rm', '--network', 'none', 'bt-e2e/archive:1']);
  assert.equal(fromArchive.stdout, 'from an archive\n', fromArchive.stderr);

  // A RUN that fails: its output and exit code on the page, and no tag on the host.
  await startBuild(page, `FROM ${base}\nRUN echo "about to fail" && exit 5\n`, 'bt-e2e/failed:1');
  await page.click('[data-testid=build-form] button[type=submit]');
  await page.waitForSelector('[data-testid=build-state]:has-text("failed")', { timeout: 120_000 });
  assert.match((await page.textContent('[data-testid=build-output-2]')) ?? '', /about to fail/);
  assert.match((await page.textContent('[data-testid=build-failure]')) ?? '', /exit code 5/);
  const inspect = await docker(['image', 'inspect', 'bt-e2e/failed:1']);
  assert.notEqual(inspect.code, 0);
  assert.equal((await docker(['rmi', 'bt-e2e/built:1', 'bt-e2e/built:extra'])).code, 0);
});
