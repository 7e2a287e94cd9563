import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chromium } from 'playwright-core';

// Placeholder-free smoke: Debian's Chromium starts under playwright-core and renders a page.
test('Debian Chromium renders a page through playwright-core', async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
  try {
    const page = await browser.newPage();
    await page.setContent('<main><h1>Berth</h1></main>');
    assert.equal(await page.textContent('h1'), 'Berth');
  } finally {
    await browser.close();
  }
});
