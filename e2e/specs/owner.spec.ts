import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { cleanUp, launchChromium } from './harness';
import { type Stack, startStack } from './stack';

let stack: Stack;
let browser: Browser;

before(async () => {
  stack = await startStack();
  browser = await launchChromium();
});

after(() =>
  cleanUp(
    () => browser?.close(),
    () => stack?.[Symbol.asyncDispose](),
  ),
);

test('the first visit creates the owner; sign out and in again; the local agent appears on the Hosts page', async () => {
  const page = await browser.newPage();
  await page.goto(stack.url);
  await page.waitForURL('**/setup');
  assert.equal(await page.textContent('h1'), 'Create the owner account');

  // Bad input is refused with a message and keeps the visitor on the form.
  await page.fill('input[name=name]', 'Ada Lovelace');
  await page.fill('input[name=email]', 'ada@example.test');
  await page.fill('input[name=password]', 'short');
  await page.evaluate(() => document.querySelector('input[name=password]')?.removeAttribute('minlength'));
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-testid=form-error]');
  assert.match((await page.textContent('[data-testid=form-error]')) ?? '', /at least 10 characters/);

  await page.fill('input[name=password]', 'correct horse battery');
  await page.fill('input[name=teamName]', 'Ops');
  await page.click('button[type=submit]');
  await page.waitForURL('**/hosts');
  assert.equal(await page.textContent('[data-testid=signed-in-as]'), 'ada@example.test');
  await page.waitForSelector('text=Team Ops · your role: owner');

  // `npm start`'s local agent joins the owner's team by itself and shows up online.
  await page.waitForSelector('[data-testid=host-status]:has-text("online")', { timeout: 60_000 });

  // The local agent is supervised: killed outright, it is back (and online again) within seconds.
  const agentPids = readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        return (
          environ.includes(`BERTH_DATA_ROOT=${stack.home}/`) && cmdline.includes('apps/agent/src/main.ts')
        );
      } catch {
        return false;
      }
    });
  assert.ok(agentPids.length > 0, 'the local agent process was not found');
  for (const pid of agentPids) process.kill(Number(pid), 'SIGKILL');
  await page.waitForSelector('[data-testid=host-status]:has-text("offline")', { timeout: 30_000 });
  await page.waitForSelector('[data-testid=host-status]:has-text("online")', { timeout: 30_000 });

  // The owner exists now: /setup sends visitors to sign in.
  await page.click('button:text-is("Sign out")');
  await page.waitForURL('**/sign-in');
  await page.goto(`${stack.url}/setup`);
  await page.waitForURL('**/sign-in');

  await page.fill('input[name=email]', 'ada@example.test');
  await page.fill('input[name=password]', 'wrong password!!');
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-testid=form-error]');
  assert.equal(await page.textContent('[data-testid=form-error]'), 'Wrong email or password.');

  await page.fill('input[name=password]', 'correct horse battery');
  await page.click('button[type=submit]');
  await page.waitForURL('**/hosts');
  await page.waitForSelector('[data-testid^=host-]');

  // Signed in on a second browser too; "Sign out everywhere" on the first ends both sessions.
  const other = await browser.newContext();
  const second = await other.newPage();
  await second.goto(`${stack.url}/sign-in`);
  await second.fill('input[name=email]', 'ada@example.test');
  await second.fill('input[name=password]', 'correct horse battery');
  await second.click('button[type=submit]');
  await second.waitForURL('**/hosts');
  await page.click('text=Sign out everywhere');
  await page.waitForURL('**/sign-in');
  await second.goto(`${stack.url}/hosts`);
  await second.waitForURL('**/sign-in');
  await other.close();

  // The API refuses callers without a session.
  const anonymous = await fetch(`${stack.url}/api/trpc/me`);
  assert.equal(anonymous.status, 401);
});
