import assert from 'node:assert/strict';
import { test } from 'node:test';
import { launchChromium } from './harness';

// Placeholder-free smoke: Debian's Chromium starts under playwright-core, as every spec launches it, and renders
// a page.
test('Debian Chromium renders a page through playwright-core', async () => {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.setContent('<main><h1>Berth</h1></main>');
    assert.equal(await page.textContent('h1'), 'Berth');
  } finally {
    await browser.close();
  }
});
