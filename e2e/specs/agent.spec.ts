import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pushBusybox, type StartedRegistry, startRegistry } from '@berth/engine/testing/index';
import { type AgentBench, cleanUp, signUpOwner, startAgentBench } from './harness';

let bench: AgentBench;
let secured: StartedRegistry;

before(async () => {
  bench = await startAgentBench('agent', { containers: ['bt-e2e-web', 'bt-e2e-cli', 'bt-e2e-private'] });
  secured = await startRegistry({ auth: 'htpasswd', users: { 'bt-e2e-user': 'bt-e2e-pass' } });
});

after(() =>
  cleanUp(
    () => bench?.close(),
    () => secured?.[Symbol.asyncDispose](),
  ),
);

test('an admin adds a host; its agent enrols, shows its containers, runs stop/start/remove from the browser, goes offline when stopped', async () => {
  const { stack, browser, registry, docker } = bench;
  const page = await browser.newPage();
  await signUpOwner(page, stack.url, { name: 'Grace Hopper', email: 'grace@example.test' });

  const agent = await bench.enrol(page);

  const host = page.locator('[data-testid^=host-]').first();
  await host.waitFor({ timeout: 30_000 }).catch(() => {
    throw new Error(`the host did not appear; agent output:\n${agent.output()}`);
  });
  await page.waitForSelector('[data-testid=host-status]:has-text("online")', { timeout: 20_000 });

  // A container started with the docker CLI on the host shows up in the browser.
  const image = await pushBusybox(registry, 'bt-e2e/busybox:1');
  const pulled = await docker(['pull', '-q', image]);
  assert.equal(pulled.code, 0, pulled.stderr);
  const run = await docker([
    'run',
    '-d',
    '--name',
    'bt-e2e-cli',
    '--network',
    'none',
    image,
    'sleep',
    '1000',
  ]);
  assert.equal(run.code, 0, run.stderr);
  await page.waitForSelector('[data-testid=container-bt-e2e-cli]', { timeout: 20_000 });
  assert.equal((await docker(['rm', '-f', 'bt-e2e-cli'])).code, 0);
  await page.waitForSelector('[data-testid=container-bt-e2e-cli]', { state: 'detached', timeout: 20_000 });

  // A deploy from the browser pulls the image on the host and runs it; bad input is refused first.
  const served = await pushBusybox(registry, 'bt-e2e/web:2');
  await page.click('text=Deploy a container');
  await page.fill('[data-testid=deploy-form] input[name=image]', served);
  await page.fill('[data-testid=deploy-form] input[name=name]', 'bt-e2e-web');
  await page.fill('[data-testid=deploy-form] input[name=ports]', 'bad port');
  await page.click('[data-testid=deploy-form] button[type=submit]');
  await page.waitForSelector('[data-testid=deploy-error]');
  await page.fill('[data-testid=deploy-form] input[name=ports]', '');
  await page.fill('[data-testid=deploy-form] input[name=cmd]', 'ping 127.0.0.1');
  // No bridge in this test: the agent runs without test-named bridges, so nothing is made on the host.
  await page.fill('[data-testid=deploy-form] input[name=network]', 'none');
  await page.click('[data-testid=deploy-form] button[type=submit]');
  await page.waitForSelector('[data-testid=container-bt-e2e-web]', { timeout: 60_000 });

  // Live logs: ping prints a line a second; lines written after the panel opened arrive in it.
  await page.locator('[data-testid=container-bt-e2e-web] button:has-text("Logs")').click();
  await page.waitForSelector('[data-testid=logs-panel]:has-text("seq=")', { timeout: 15_000 });
  const highestSeq = async () =>
    Math.max(
      ...[...((await page.textContent('[data-testid=logs-panel]')) ?? '').matchAll(/seq=(\d+)/g)].map((m) =>
        Number(m[1]),
      ),
    );
  const first = await highestSeq();
  await page.waitForFunction(
    (after) =>
      [
        ...(document.querySelector('[data-testid=logs-panel]')?.textContent ?? '').matchAll(/seq=(\d+)/g),
      ].some((m) => Number(m[1]) >= after + 2),
    first,
    { timeout: 15_000 },
  );
  await page.locator('[data-testid=container-bt-e2e-web] button:has-text("Hide logs")').click();

  // A private image: the deploy fails until an admin saves the registry's credentials, then it runs.
  const privateImage = await pushBusybox(secured, 'bt-e2e/private:1', {
    username: 'bt-e2e-user',
    password: 'bt-e2e-pass',
  });
  const deployPrivate = async () => {
    await page.click('text=Deploy a container');
    await page.fill('[data-testid=deploy-form] input[name=image]', privateImage);
    await page.fill('[data-testid=deploy-form] input[name=name]', 'bt-e2e-private');
    await page.fill('[data-testid=deploy-form] input[name=cmd]', 'sleep 1000');
    await page.fill('[data-testid=deploy-form] input[name=network]', 'none');
    await page.click('[data-testid=deploy-form] button[type=submit]');
  };
  await deployPrivate();
  await page.waitForSelector('[data-testid=deploy-error]', { timeout: 30_000 });
  await page.click('text=Cancel');
  await page.click('nav >> text=Registries');
  await page.fill('[data-testid=registry-form] input[name=serverAddress]', secured.host);
  await page.fill('[data-testid=registry-form] input[name=username]', 'bt-e2e-user');
  await page.fill('[data-testid=registry-form] input[name=password]', 'bt-e2e-pass');
  await page.click('[data-testid=registry-form] button[type=submit]');
  await page.waitForSelector(`[data-testid=registries-table] >> text=${secured.host}`);
  assert.ok(
    !(await page.content()).includes('bt-e2e-pass'),
    'the password must never come back to the browser',
  );
  await page.click('nav >> text=Hosts');
  await deployPrivate();
  await page.waitForSelector('[data-testid=container-bt-e2e-private]', { timeout: 60_000 });
  assert.equal((await docker(['rm', '-f', 'bt-e2e-private'])).code, 0);
  assert.match((await page.textContent('[data-testid=container-bt-e2e-web]')) ?? '', /Up /);

  // The token was for one enrolment only.
  const again = await fetch(`${stack.url}/api/agent/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      token: agent.token,
      publicKey: 'MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=',
      protocolVersion: 1,
      facts: {
        hostname: 'x',
        os: 'x',
        kernel: 'x',
        arch: 'x',
        cpus: 1,
        memoryBytes: 1,
        runtimes: {},
        agentVersion: 'x',
      },
    }),
  });
  assert.equal(again.status, 403);

  // Operate the container from the browser: stop it, start it again, remove it.
  const row = page.locator('[data-testid=container-bt-e2e-web]');
  await row.locator('button:has-text("Stop")').click();
  await page.waitForSelector('[data-testid=container-bt-e2e-web]:has-text("Exited")', { timeout: 30_000 });
  const state = await docker(['ps', '-a', '--filter', 'name=bt-e2e-web', '--format', '{{.State}}']);
  assert.equal(state.stdout.trim(), 'exited', JSON.stringify(state));
  await row.locator('button:has-text("Start")').click();
  await page.waitForSelector('[data-testid=container-bt-e2e-web]:has-text("Up ")', { timeout: 30_000 });

  // A shell in the running container, from the fleet's Containers page: type a command, read its answer.
  await page.click('nav >> text=Containers');
  await page.locator('[data-testid=fleet-container-bt-e2e-web] >> text=Console').click();
  await page.waitForSelector('[data-testid=console-status]:has-text("open")', { timeout: 20_000 });
  await page.locator('[data-testid=console-terminal]').click();
  await page.keyboard.type('echo "bt-console-$((6 * 7))" && hostname\n');
  await page.waitForSelector('[data-testid=console-terminal] >> text=bt-console-42', { timeout: 15_000 });
  await page.keyboard.type('exit\n');
  await page.waitForSelector('text=The shell exited.', { timeout: 15_000 });
  await page.click('nav >> text=Hosts');
  await page.waitForSelector('[data-testid=container-bt-e2e-web]:has-text("Up ")', { timeout: 30_000 });
  page.once('dialog', (dialog) => void dialog.accept());
  await row.locator('button:has-text("Remove")').click();
  await page.waitForSelector('[data-testid=container-bt-e2e-web]', { state: 'detached', timeout: 30_000 });
  assert.equal((await docker(['inspect', 'bt-e2e-web'])).code, 1);

  // Pull an image the host does not have from the Images page, following its layers to the end.
  const fresh = await pushBusybox(registry, 'bt-e2e/pulled:3');
  await page.click('nav >> text=Images');
  await page.click('text=Pull an image');
  await page.fill('[data-testid=pull-form] input[name=reference]', fresh);
  await page.locator('[data-testid=pull-form] input[type=checkbox]').first().check();
  await page.click('[data-testid=pull-form] button:has-text("Pull")');
  await page.waitForSelector('[data-testid=pull-progress] >> text=succeeded', { timeout: 60_000 });
  assert.ok(
    (await page.locator('[data-testid=pull-progress] progress').count()) >= 1,
    'no layer progress bar',
  );
  const pulledHere = await docker(['image', 'inspect', '--format', '{{.Id}}', fresh]);
  assert.equal(pulledHere.code, 0, pulledHere.stderr);

  await page.click('nav >> text=Hosts');
  await agent.stop();
  await page.waitForSelector('[data-testid=host-status]:has-text("offline")', { timeout: 20_000 });

  // Every action above is in the audit log, with who did it; the filter narrows it by action.
  await page.click('nav >> text=Audit');
  await page.waitForSelector('[data-testid=audit-table] >> text=container.deploy');
  const audit = (await page.textContent('[data-testid=audit-table]')) ?? '';
  for (const action of [
    'auth.sign_up',
    'host.enrollment_token',
    'host.enrolled',
    'agent.connected',
    'container.stop',
    'container.start',
    'container.remove',
    'container.exec',
    'image.pull',
  ])
    assert.ok(audit.includes(action), `${action} missing from the audit log`);
  assert.ok(audit.includes('grace@example.test'));
  await page.fill('input[placeholder^=container]', 'container.st');
  await page.waitForFunction(() => {
    const text = document.querySelector('[data-testid=audit-table]')?.textContent ?? '';
    return !text.includes('container.deploy') && text.includes('container.stop');
  });
  const filtered = (await page.textContent('[data-testid=audit-table]')) ?? '';
  assert.ok(filtered.includes('container.stop') && filtered.includes('container.start'));

  // The same actions as operations: who asked, on which host, and how each ended.
  await page.click('nav >> text=Operations');
  await page.waitForSelector('[data-testid=operations-table] >> text=container.remove');
  const operations = (await page.textContent('[data-testid=operations-table]')) ?? '';
  for (const kind of ['container.deploy', 'container.stop', 'container.start', 'container.remove'])
    assert.ok(operations.includes(kind), `${kind} missing from the operations`);
  assert.ok(operations.includes('succeeded'));
  assert.ok(operations.includes('grace@example.test'));
  assert.ok(!operations.includes('running'), 'an operation was left running');

  const health = await fetch(`${stack.url}/api/health`);
  assert.equal(health.status, 200);
  assert.deepEqual(((await health.json()) as { ok: boolean }).ok, true);
});
