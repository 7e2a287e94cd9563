/**
 * Add a host over SSH from the browser: a real sshd in a `bt-` network namespace (the same fixture as the
 * installer's integration test) stands for a fresh server; the production stack's public URL is this machine's
 * end of the veth, so the agent installed there can dial it. The owner checks the host key, confirms it,
 * follows the steps live, sees the host online on the Hosts page, then uninstalls it from the browser.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type SshdFixture, startSshd } from '@berth/web/testing/sshd';
import type { Browser } from 'playwright-core';
import { cleanUp, launchChromium, removeDir, signUpOwner } from './harness';
import { type Stack, startStack } from './stack';

const artifacts = fileURLToPath(new URL('../artifacts/ssh-install', import.meta.url));
let stack: Stack;
let browser: Browser;
let sshd: SshdFixture;
let work: string;

async function killAgent(prefix: string): Promise<void> {
  const pid = Number((await readFile(join(prefix, 'agent.pid'), 'utf8').catch(() => '')).trim());
  if (!pid || !existsSync(`/proc/${pid}`)) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 40 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 250));
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-e2e-ssh-'));
  await mkdir(artifacts, { recursive: true });
  sshd = await startSshd(join(work, 'sshd'));
  stack = await startStack({ localAgent: false, publicHost: sshd.hostAddress });
  browser = await launchChromium();
});

after(() =>
  cleanUp(
    // The uninstall in the test may have stopped it a moment before.
    () => (work ? killAgent(join(work, 'opt')).catch(() => undefined) : undefined),
    () => browser?.close(),
    () => stack?.[Symbol.asyncDispose](),
    () => sshd?.close(),
    () => removeDir(work),
  ),
);

test('an owner adds a host over SSH: confirms its key, follows the steps, sees it online, uninstalls it', async () => {
  const page = await browser.newPage();
  const url = stack.url.replace('localhost', '127.0.0.1');
  await signUpOwner(page, url, { name: 'Ada Lovelace', email: 'ada@example.test' });

  await page.click('[data-testid=add-ssh-link]');
  await page.waitForURL('**/hosts/add-ssh');
  const form = page.locator('[data-testid=ssh-form]');
  await form.locator('input[name=host]').fill(sshd.address);
  await form.locator('input[name=username]').fill('root');
  await form.locator('textarea[name=privateKey]').fill(sshd.rootKey);
  await form.locator('summary').click();
  await form.locator('input[name=prefix]').fill(join(work, 'opt'));
  await form.locator('input[name=dataRoot]').fill(join(work, 'data'));
  await form.locator('input[name=dockerSocket]').fill(join(work, 'docker.sock'));
  await page.screenshot({ path: join(artifacts, '1-form.png'), fullPage: true });

  await page.click('text=Check the host key');
  const fingerprint = await page.textContent('[data-testid=host-key-fingerprint]', { timeout: 20_000 });
  assert.equal(fingerprint?.trim(), sshd.fingerprint);
  await page.screenshot({ path: join(artifacts, '2-host-key.png'), fullPage: true });

  await page.click('text=Confirm the key and install');
  await page.waitForSelector('[data-testid=ssh-step-connect][data-status=ok]', { timeout: 30_000 });
  const run = page.locator('[data-testid=ssh-run]');
  await page
    .waitForSelector('[data-testid=ssh-run]:not([data-status=running])', { timeout: 120_000 })
    .catch(() => undefined);
  await page.screenshot({ path: join(artifacts, '3-steps.png'), fullPage: true });
  assert.equal(await run.getAttribute('data-status'), 'succeeded', (await run.textContent()) ?? '');
  assert.match(
    (await page.textContent('[data-testid=ssh-step-start]')) ?? '',
    /systemd is not running on this host/,
  );

  await page.click('text=See it on the Hosts page');
  await page.waitForURL('**/hosts');
  await page.waitForSelector('[data-testid=host-status]:has-text("online")', { timeout: 20_000 });
  await page.screenshot({ path: join(artifacts, '4-hosts.png'), fullPage: true });

  // Uninstall from the browser: the pinned key is recognised, the agent stops and goes offline.
  await page.goto(`${url}/hosts/add-ssh`);
  await form.locator('input[name=host]').fill(sshd.address);
  await form.locator('textarea[name=privateKey]').fill(sshd.rootKey);
  await form.locator('select[name=action]').selectOption('uninstall');
  await form.locator('summary').click();
  await form.locator('input[name=prefix]').fill(join(work, 'opt'));
  await form.locator('input[name=dataRoot]').fill(join(work, 'data'));
  await form.locator('input[name=dockerSocket]').fill(join(work, 'docker.sock'));
  await page.click('text=Check the host key');
  await page.waitForSelector('text=This is the key confirmed for this address before.', { timeout: 20_000 });
  await page.click('text=Confirm the key and uninstall');
  await page.waitForSelector('[data-testid=ssh-run][data-status=succeeded]', { timeout: 60_000 });
  await page.screenshot({ path: join(artifacts, '5-uninstalled.png'), fullPage: true });
  assert.equal(existsSync(join(work, 'opt', 'agent.env')), false);
  await page.goto(`${url}/hosts`);
  await page.waitForSelector('[data-testid=host-status]:has-text("offline")', { timeout: 20_000 });
});
