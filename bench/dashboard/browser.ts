/**
 * The dashboard in Chromium: the same seeded fleet (2,000 hosts, 100,000 containers) served by the real stack
 * (`npm start`'s script, on the seeded PostgreSQL). For the Hosts and Containers pages it measures the time from
 * navigation start until the first page of rows is on screen in the hydrated page (rows are rendered by React
 * from the tRPC answer, so visible rows mean an interactive page), the time from typing a filter to the matching
 * rows (including the 250 ms the search box waits for typing to pause), and the longest main-thread task while
 * scrolling the page top to bottom.
 *
 *   npx tsx bench/dashboard/browser.ts [--hosts 2000] [--containers 100000] [--rounds 10]
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { migrate, startEmbeddedPostgres } from '@berth/db';
import { startStack } from '@berth/e2e/specs/stack';
import { chromium, type Page } from 'playwright-core';
import { seedFleet, seedMember } from './seed';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '2000' },
    containers: { type: 'string', default: '100000' },
    rounds: { type: 'string', default: '10' },
  },
});
const rounds = Number(values.rounds);

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

const root = await mkdtemp(join(tmpdir(), 'bt-bench-browser-'));
await chmod(root, 0o755);
const database = await startEmbeddedPostgres({ root });
try {
  await migrate(database.url);
  process.env.DATABASE_URL = database.url;
  process.env.BETTER_AUTH_SECRET = randomBytes(32).toString('base64url');
  const { teamId } = await seedFleet(database.url, {
    hosts: Number(values.hosts),
    containers: Number(values.containers),
  });
  const { auth } = await import('@berth/web/server/auth');
  const email = 'bench@example.test';
  const password = 'bench-password-long';
  // An operator: the Containers page renders its selection boxes and action buttons, the heavier page.
  await seedMember(database.url, teamId, (body) => auth().api.signUpEmail({ body }), {
    email,
    password,
    role: 'operator',
  });
  await using stack = await startStack({ env: { DATABASE_URL: database.url, BERTH_NO_AGENT: '1' } });
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
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`${stack.url}/sign-in`);
    await page.fill('input[name=email]', email);
    await page.fill('input[name=password]', password);
    await page.click('button[type=submit]');
    await page.waitForURL('**/hosts');

    /** Milliseconds from navigation start until `selector` is on screen. */
    const load = async (path: string, selector: string) => {
      await page.goto(`${stack.url}${path}`, { waitUntil: 'commit' });
      await page.waitForSelector(selector, { timeout: 60_000 });
      return page.evaluate(() => performance.now());
    };
    const filter = async (path: string, input: string, text: string, rowSelector: string, check: string) => {
      await page.goto(`${stack.url}${path}`);
      await page.waitForSelector(rowSelector);
      const started = Date.now();
      await page.fill(input, text);
      await page.waitForFunction(
        ({ rowSelector, check }) => {
          const rows = [...document.querySelectorAll(rowSelector)];
          return rows.length > 0 && rows.every((r) => (r.textContent ?? '').includes(check));
        },
        { rowSelector, check },
        { timeout: 60_000 },
      );
      return Date.now() - started;
    };
    const scroll = async (page: Page) => {
      await page.evaluate(() => {
        (window as unknown as { longest: number }).longest = 0;
        new PerformanceObserver((list) => {
          for (const entry of list.getEntries())
            (window as unknown as { longest: number }).longest = Math.max(
              (window as unknown as { longest: number }).longest,
              entry.duration,
            );
        }).observe({ type: 'longtask', buffered: false });
      });
      for (let y = 0; y < 20; y++) {
        await page.mouse.wheel(0, 400);
        await page.waitForTimeout(30);
      }
      return page.evaluate(() => (window as unknown as { longest: number }).longest);
    };

    const hostRow = '[data-testid^=host-node-]';
    const containerRow = '[data-testid^=fleet-container-]';
    const cases: Array<[string, () => Promise<number>]> = [
      ['hosts: first page on screen', () => load('/hosts', hostRow)],
      ['containers: first page on screen', () => load('/containers', containerRow)],
      [
        'hosts: type "node-012" → rows',
        () => filter('/hosts', 'input[type=search]', 'node-012', hostRow, 'node-012'),
      ],
      [
        'containers: type "svc-42" → rows',
        () => filter('/containers', 'input[type=search]', 'svc-42', containerRow, 'svc-42'),
      ],
      [
        'containers: label app=app-7 → rows',
        () =>
          filter('/containers', 'input[placeholder="app=web, tier"]', 'app=app-7', containerRow, 'app=app-7'),
      ],
    ];
    console.info(`${'case'.padEnd(40)} ${'p50 ms'.padStart(8)} ${'p95 ms'.padStart(8)}`);
    for (const [name, run] of cases) {
      await run();
      const samples: number[] = [];
      for (let i = 0; i < rounds; i++) samples.push(await run());
      console.info(
        `${name.padEnd(40)} ${percentile(samples, 50).toFixed(0).padStart(8)} ${percentile(samples, 95).toFixed(0).padStart(8)}`,
      );
    }
    for (const [name, path, selector] of [
      ['hosts', '/hosts', hostRow],
      ['containers', '/containers', containerRow],
    ] as const) {
      await page.goto(`${stack.url}${path}`);
      await page.waitForSelector(selector);
      console.info(
        `${`${name}: longest task while scrolling`.padEnd(40)} ${(await scroll(page)).toFixed(0).padStart(8)}`,
      );
    }
  } finally {
    await browser.close();
  }
} finally {
  await database.stop();
  await rm(root, { recursive: true, force: true });
}
