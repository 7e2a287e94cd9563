import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { cleanUp, launchChromium, signUpOwner } from './harness';
import { type Stack, startStack } from './stack';

let stack: Stack;
let browser: Browser;

before(async () => {
  // No local agent: the owner's team starts with no hosts at all.
  stack = await startStack({ localAgent: false });
  browser = await launchChromium();
});

after(() =>
  cleanUp(
    () => browser?.close(),
    () => stack?.[Symbol.asyncDispose](),
  ),
);

async function signUpOverHttp(email: string): Promise<number> {
  const response = await fetch(`${stack.url}/api/auth/sign-up/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: stack.url },
    body: JSON.stringify({ name: 'Mallory', email, password: 'mallory-password-1' }),
  });
  return response.status;
}

test('nobody can sign up past the first visit; the owner then sees the empty Hosts page, also after signing in again', async () => {
  // Before the owner exists, an account made over the API would take the first visit away from the owner.
  assert.equal(await signUpOverHttp('mallory@example.test'), 404);

  const page = await browser.newPage();
  await signUpOwner(page, stack.url, {
    name: 'Grace Hopper',
    email: 'grace@example.test',
    teamName: 'Platform',
  });

  const empty = async () => {
    await page.waitForSelector('[data-testid=hosts-empty]');
    const text = (await page.textContent('[data-testid=hosts-empty]')) ?? '';
    assert.match(text, /No hosts yet/);
    // The empty state tells the next step.
    assert.match(text, /Add a host/);
    assert.equal(await page.locator('[data-testid^=host-]:not([data-testid=hosts-empty])').count(), 0);
  };
  await empty();

  await page.click('button:text-is("Sign out")');
  await page.waitForURL('**/sign-in');
  await page.fill('input[name=email]', 'grace@example.test');
  await page.fill('input[name=password]', 'a long enough password');
  await page.click('button[type=submit]');
  await page.waitForURL('**/hosts');
  await empty();

  assert.equal(await signUpOverHttp('mallory@example.test'), 404);
  assert.doesNotMatch(stack.output(), /local agent/);
});
