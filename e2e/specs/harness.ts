/**
 * What the browser specs share besides the stack: Debian's Chromium, the docker CLI against an agent's
 * socket, an agent started with the enrolment command a page shows (stopped by its pid), and the bench most
 * specs start from (stack, registry, browser and a directory for that agent, closed together).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type StartedRegistry, startRegistry } from '@berth/engine/testing/index';
import { type Browser, chromium, type Page } from 'playwright-core';
import { type Stack, startStack } from './stack';

const root = fileURLToPath(new URL('../..', import.meta.url));

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
}

export interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The docker CLI against an agent's socket, with its own HOME (no login or config of the machine's). Its stdin
 * is closed and it gets two minutes, so a CLI that asks something (a login) fails instead of hanging the spec.
 */
export function docker(socket: string, args: string[], home: string): Promise<DockerResult> {
  return new Promise((resolve) => {
    const child = execFile(
      'docker',
      ['-H', `unix://${socket}`, ...args],
      { env: { PATH: process.env.PATH, HOME: home }, timeout: 120_000 },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end();
  });
}

export interface EnrolledAgent {
  socket: string;
  /** The enrolment token the page gave (spent by this agent). */
  token: string;
  /** Everything the agent printed so far. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Clicks "Add a host" and runs the command it shows, with the agent's data and socket under `home`; with
 * `netns`, inside that network namespace (a host of its own); `args` are added to the agent's flags.
 */
export async function enrolAgentFromPage(
  page: Page,
  home: string,
  options: { netns?: string; args?: string[] } = {},
): Promise<EnrolledAgent> {
  await page.click('text=Add a host');
  const command = (await page.textContent('[data-testid=enroll-command]')) ?? '';
  const match = /--control-plane (\S+) --enroll-token (\S+)/.exec(command);
  if (!match) throw new Error(`unexpected command: ${command}`);
  const socket = join(home, 'docker.sock');
  let output = '';
  const argv = [
    join(root, 'node_modules/.bin/tsx'),
    join(root, 'apps/agent/src/main.ts'),
    '--data-root',
    join(home, 'data'),
    '--docker-socket',
    socket,
    '--control-plane',
    match[1] as string,
    '--enroll-token',
    match[2] as string,
    ...(options.args ?? []),
  ];
  // nsenter (which execs the agent, so the pid is the agent's) enters only the network namespace: the agent
  // still sees this machine's mounts and cgroups, as it would on a host of its own.
  const [file, ...args] = options.netns ? ['nsenter', `--net=/run/netns/${options.netns}`, ...argv] : argv;
  const agent: ChildProcess = spawn(file as string, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  agent.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  agent.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  return {
    socket,
    token: match[2] as string,
    output: () => output,
    async stop() {
      if (!agent.pid || agent.exitCode !== null || agent.signalCode !== null) return;
      const exited = new Promise((r) => agent.once('exit', r));
      process.kill(agent.pid, 'SIGTERM');
      await exited;
    },
  };
}

/**
 * An `after` hook's steps: every one runs even when an earlier one fails (a spec that failed half way still
 * stops its agent and removes its directories), then the first failure is reported.
 */
export async function cleanUp(...steps: Array<() => PromiseLike<unknown> | undefined>): Promise<void> {
  const failures: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length) throw failures[0];
}

/** A test's directory gone, retried while a stopping agent's runc or conmon still changes files in it. */
export function removeDir(path: string | undefined): Promise<void> | undefined {
  return path ? rm(path, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 }) : undefined;
}

/** The first visit's form: the owner account (and its team, when named); ends on the Hosts page. */
export async function signUpOwner(
  page: Page,
  url: string,
  owner: { name: string; email: string; password?: string; teamName?: string },
): Promise<void> {
  await page.goto(url);
  await page.waitForURL('**/setup');
  await page.fill('input[name=name]', owner.name);
  await page.fill('input[name=email]', owner.email);
  await page.fill('input[name=password]', owner.password ?? 'a long enough password');
  if (owner.teamName) await page.fill('input[name=teamName]', owner.teamName);
  await page.click('button[type=submit]');
  await page.waitForURL('**/hosts');
}

/** An invitation link's form (in a browser context of the invitee's own): the account joins the link's team. */
export async function signUpInvited(
  page: Page,
  link: string,
  user: { name: string; email: string; password?: string },
): Promise<void> {
  await page.goto(link);
  await page.fill('[data-testid=invite-signup] input[name=name]', user.name);
  await page.fill('[data-testid=invite-signup] input[name=email]', user.email);
  await page.fill(
    '[data-testid=invite-signup] input[name=password]',
    user.password ?? 'a long enough password',
  );
  await page.click('text=Create account and join');
  await page.waitForURL('**/hosts');
}

/**
 * What a spec about one agent enrolled from the page starts from: the stack without its local agent (the team
 * starts with no hosts), a registry, Chromium, and the agent's directory (its data, socket, and the docker CLI's
 * HOME). `close()` is the spec's `after` hook: it takes down whatever of this exists, also after a half-done
 * start or a failed test.
 */
export interface AgentBench {
  stack: Stack;
  registry: StartedRegistry;
  browser: Browser;
  agentHome: string;
  /**
   * Enrols the agent with the command `page` shows (one per bench); with `onlineWithin` (ms), also waits for
   * its host to show online, failing with the agent's output.
   */
  enrol(page: Page, options?: { onlineWithin?: number }): Promise<EnrolledAgent>;
  /** The docker CLI against the agent's socket. */
  docker(args: string[]): Promise<DockerResult>;
  close(): Promise<void>;
}

/**
 * `tag` names the agent's directory (`bt-e2e-<tag>-…`); `containers` are the names the spec runs on the agent,
 * removed before the agent stops (their conmon would otherwise outlive it).
 */
export async function startAgentBench(
  tag: string,
  options: { containers?: string[] } = {},
): Promise<AgentBench> {
  const containers = options.containers ?? [];
  let registry: StartedRegistry | undefined;
  let stack: Stack | undefined;
  let agentHome: string | undefined;
  let browser: Browser | undefined;
  let agent: EnrolledAgent | undefined;
  const close = () =>
    cleanUp(
      // The pages first: a page still polling would have the agent run runc in the directory about to go.
      () => browser?.close(),
      () =>
        agent && agentHome && containers.length
          ? docker(agent.socket, ['rm', '-f', ...containers], agentHome)
          : undefined,
      () => agent?.stop(),
      () => stack?.[Symbol.asyncDispose](),
      () => registry?.[Symbol.asyncDispose](),
      () => removeDir(agentHome),
    );
  try {
    registry = await startRegistry();
    stack = await startStack({ localAgent: false });
    agentHome = await mkdtemp(join(tmpdir(), `bt-e2e-${tag}-`));
    await chmod(agentHome, 0o755);
    browser = await launchChromium();
  } catch (error) {
    // Nobody else holds a bench that did not start.
    await close().catch(() => undefined);
    throw error;
  }
  const home = agentHome;
  return {
    stack,
    registry,
    browser,
    agentHome: home,
    async enrol(page, { onlineWithin } = {}) {
      if (agent) throw new Error('this bench has its agent already');
      const enrolled = await enrolAgentFromPage(page, home);
      agent = enrolled;
      if (onlineWithin)
        await page
          .waitForSelector('[data-testid=host-status]:has-text("online")', { timeout: onlineWithin })
          .catch(() => {
            throw new Error(`the host did not come online; agent output:\n${enrolled.output()}`);
          });
      return enrolled;
    },
    docker: (args) => docker(join(home, 'docker.sock'), args, home),
    close,
  };
}
