/**
 * Installing (and uninstalling) the agent on a host over one SSH session, as a list of steps whose status and
 * output are reported as they happen. The bundle is staged in a private temp dir first because the
 * prerequisite check is the agent's own (`berth-agent check --json`): the same code that refuses to start
 * is the one that says what is missing. Nothing is configured until the checks pass; a failure after the
 * unit was written stops and removes it (and the environment file holding the enrolment token), so a host is
 * either running the agent or not set up at all. Re-running is safe: files are replaced atomically, an
 * already enrolled host keeps its identity, and the service is restarted rather than started twice.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  nodeVersionOk,
  type PrerequisiteReport,
  prerequisiteReportSchema,
} from '@berth/agent/prerequisites/check';
import { z } from 'zod';
import { SshInstallError } from './errors';
import { type AgentLayout, agentEnvFile, agentUnit, layoutPaths } from './layout';
import { sh, shQuote } from './quote';
import { type CommandResult, type SshCredentials, SshSession, type SshTarget } from './session';

export const stepIds = [
  'connect',
  'upload',
  'prerequisites',
  'packages',
  'configure',
  'enrol',
  'start',
  'heartbeat',
] as const;
export const uninstallStepIds = ['connect', 'containers', 'stop', 'remove'] as const;
export type StepId = (typeof stepIds)[number] | (typeof uninstallStepIds)[number];

export const stepSchema = z.object({
  id: z.string(),
  title: z.string(),
  status: z.enum(['pending', 'running', 'ok', 'skipped', 'failed']),
  output: z.string(),
  /** What to do about a failure, in words. */
  hint: z.string().optional(),
});
export type Step = z.infer<typeof stepSchema>;

const titles: Record<StepId, string> = {
  connect: 'Connect',
  upload: 'Upload the agent (checksum verified)',
  prerequisites: 'Check prerequisites',
  packages: 'Install missing packages',
  configure: 'Write configuration and service',
  enrol: 'Enrol with the control plane',
  start: 'Start the agent',
  heartbeat: 'First heartbeat',
  containers: 'Remove containers',
  stop: 'Stop the agent',
  remove: 'Remove the service',
};

/** A step that failed: its output and what to do are shown with it. */
export class StepFailure extends Error {
  override readonly name = 'StepFailure';
  constructor(
    message: string,
    readonly hint: string,
    readonly output = '',
  ) {
    super(message);
  }
}

export interface Bundle {
  /** A directory holding berth-agent.mjs and berth-agent.mjs.sha256 (`npm run build`). */
  dir: string;
}

export interface InstallOptions {
  target: SshTarget;
  credentials: SshCredentials;
  fingerprint: string;
  layout: AgentLayout;
  controlPlane: string;
  allowPackages: boolean;
  bundle: Bundle;
  /** Whether this team has the host with that id (an agent already enrolled here). */
  knownHost: (hostId: string) => Promise<boolean>;
  createEnrollmentToken: () => Promise<string>;
  /** Resolves true once the host is online in the gateway, false after `timeoutMs`. */
  waitOnline: (hostId: string, timeoutMs: number) => Promise<boolean>;
  onUpdate: (steps: Step[]) => void | Promise<void>;
  heartbeatTimeoutMs?: number;
}

class StepRunner {
  readonly steps: Step[];
  readonly #onUpdate: (steps: Step[]) => void | Promise<void>;

  constructor(ids: readonly StepId[], onUpdate: (steps: Step[]) => void | Promise<void>) {
    this.steps = ids.map((id) => ({ id, title: titles[id], status: 'pending', output: '' }));
    this.#onUpdate = onUpdate;
  }

  async #publish(): Promise<void> {
    await this.#onUpdate(this.steps.map((step) => ({ ...step })));
  }

  #step(id: StepId): Step {
    const step = this.steps.find((s) => s.id === id);
    if (!step) throw new Error(`no step ${id}`);
    return step;
  }

  async append(id: StepId, text: string): Promise<void> {
    if (!text) return;
    const step = this.#step(id);
    step.output = `${step.output}${text.endsWith('\n') ? text : `${text}\n`}`.slice(-32 * 1024);
    await this.#publish();
  }

  /** Runs one step: a thrown error marks it failed (with its hint) and stops the run. */
  async run(id: StepId, body: () => Promise<'ok' | 'skipped' | undefined>): Promise<void> {
    const step = this.#step(id);
    step.status = 'running';
    await this.#publish();
    try {
      step.status = (await body()) ?? 'ok';
    } catch (error) {
      step.status = 'failed';
      if (error instanceof StepFailure) {
        if (error.output) step.output += error.output.endsWith('\n') ? error.output : `${error.output}\n`;
        step.output += `${error.message}\n`;
        step.hint = error.hint;
      } else if (error instanceof SshInstallError) {
        step.output += `${error.message}\n`;
        step.hint = hintFor(error);
      } else {
        step.output += `${(error as Error).message}\n`;
        step.hint =
          'An unexpected error; the server log has details. Run the install again once it is fixed.';
      }
      await this.#publish();
      throw error;
    }
    await this.#publish();
  }
}

function hintFor(error: SshInstallError): string {
  switch (error.code) {
    case 'host_key_changed':
      return 'The host answered with another key than the one confirmed. If the host was reinstalled, an admin can forget the pinned key and confirm the new one; otherwise do not proceed.';
    case 'auth_failed':
      return 'Check the user name and the private key or password (the key must be in the user’s ~/.ssh/authorized_keys).';
    case 'unreachable':
      return 'Check the address and port, and that sshd runs and a firewall lets the control plane through.';
    case 'sudo_failed':
      return 'Give the sudo password of this user, or log in as root; the user must be allowed to sudo.';
    default:
      return 'See the output above; fix it on the host and run the install again.';
  }
}

function outputOf(result: CommandResult): string {
  return `${result.stdout}${result.stderr}`.trim();
}

async function mustRun(session: SshSession, command: string, what: string, hint: string, root = true) {
  const result = await session.exec(command, { root });
  if (result.code !== 0)
    throw new StepFailure(`${what} failed (exit ${result.code})`, hint, outputOf(result));
  return result;
}

/** Logs in and makes sure commands can run as root; returns the open session. */
async function connect(
  runner: StepRunner,
  options: Pick<InstallOptions, 'target' | 'credentials' | 'fingerprint'>,
) {
  const session = await SshSession.open(options.target, options.credentials, options.fingerprint);
  try {
    await runner.append(
      'connect',
      `connected to ${options.target.host}:${options.target.port} as ${options.target.username}; host key ${session.hostKey.keyType} ${session.hostKey.fingerprint}`,
    );
    const probe = await session.exec('id -u; uname -sm', { root: true });
    if (probe.code !== 0 || probe.stdout.split('\n')[0] !== '0') {
      const text = outputOf(probe);
      throw new SshInstallError(
        'sudo_failed',
        /password/i.test(text)
          ? `sudo refused: ${text.split('\n')[0] ?? ''}`
          : `could not become root (exit ${probe.code}): ${text.split('\n')[0] ?? ''}`,
      );
    }
    await runner.append(
      'connect',
      `${probe.stdout.split('\n')[1] ?? ''}; commands run as root${session.isRoot ? '' : ' through sudo'}`,
    );
    return session;
  } catch (error) {
    session.close();
    throw error;
  }
}

async function readBundle(bundle: Bundle): Promise<{ bytes: Buffer; sha256File: string; sha256: string }> {
  try {
    const bytes = await readFile(join(bundle.dir, 'berth-agent.mjs'));
    const sha256File = await readFile(join(bundle.dir, 'berth-agent.mjs.sha256'), 'utf8');
    const sha256 = /^([0-9a-f]{64}) {2}berth-agent\.mjs\n$/.exec(sha256File)?.[1];
    if (!sha256) throw new Error('berth-agent.mjs.sha256 is not in `sha256sum` form');
    return { bytes, sha256File, sha256 };
  } catch (error) {
    throw new StepFailure(
      `the agent bundle is not available on the control plane: ${(error as Error).message}`,
      'Build it on the control plane with `npm run build` (it makes apps/agent/dist/berth-agent.mjs).',
    );
  }
}

/** Node on the host and, when it is new enough, the agent's own report; `missing` lists packages to install. */
async function checkHost(
  session: SshSession,
  staged: string,
): Promise<{ text: string; report: PrerequisiteReport | null; missing: string[]; blocking: string[] }> {
  const node = await session.exec('command -v node >/dev/null 2>&1 && node --version', { root: true });
  const version = node.code === 0 ? node.stdout.trim() : null;
  if (!version || !nodeVersionOk(version)) {
    const text = version
      ? `Node ${version} is too old: the agent needs Node 20.19 or newer`
      : 'Node.js is missing: the agent needs Node 20.19 or newer';
    return { text, report: null, missing: ['nodejs'], blocking: [] };
  }
  const result = await session.exec(sh`node ${`${staged}/berth-agent.mjs`} check --json`, { root: true });
  const parsed = prerequisiteReportSchema.safeParse(
    (() => {
      try {
        return JSON.parse(result.stdout);
      } catch {
        return undefined;
      }
    })(),
  );
  if (!parsed.success)
    throw new StepFailure(
      'the agent could not check this host',
      'The agent bundle did not run with this host’s Node; the output above says why.',
      outputOf(result),
    );
  const report = parsed.data;
  const text = report.items
    .map((item) => (item.ok ? `ok      ${item.detail}` : `MISSING ${item.detail}: ${item.fix ?? ''}`))
    .join('\n');
  const blocking = report.items
    .filter((item) => !item.ok && !item.package)
    .map((i) => `${i.detail}: ${i.fix}`);
  return { text, report, missing: report.missingPackages, blocking };
}

async function systemdRunning(session: SshSession): Promise<boolean> {
  // What sd_booted() checks: the directory exists only when systemd is PID 1.
  return (await session.exec('test -d /run/systemd/system', { root: true })).code === 0;
}

/** Stops the agent: the unit when systemd runs it, else the fallback's process (its pid file, checked). */
function stopCommand(layout: AgentLayout, systemd: boolean): string {
  const paths = layoutPaths(layout);
  if (systemd)
    return `${sh`if test -f ${paths.unit}; then systemctl disable --now ${`${layout.unitName}.service`}; fi`} 2>&1; true`;
  // Only a pid whose command line names our bundle is signalled (a stale pid file may name another process).
  return `${sh`pidfile=${paths.pid}; bundle=${paths.bundle}`}
if test -f "$pidfile"; then
  pid=$(cat "$pidfile")
  if test -r "/proc/$pid/cmdline" && tr '\\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$bundle"; then
    kill -TERM "$pid"
    for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do test -d "/proc/$pid" || break; sleep 0.5; done
    test -d "/proc/$pid" && kill -KILL "$pid"
    echo "stopped the agent (pid $pid)"
  fi
  rm -f "$pidfile"
fi
true`;
}

function startCommand(layout: AgentLayout, systemd: boolean): string {
  const paths = layoutPaths(layout);
  if (systemd)
    return sh`systemctl daemon-reload && systemctl enable ${`${layout.unitName}.service`} 2>&1 && systemctl restart ${`${layout.unitName}.service`}`;
  // No systemd: the agent runs detached (setsid, nohup) with its output in the log; nothing restarts it.
  return `${stopCommand(layout, false)}
${sh`cd ${layout.prefix}`} || exit 1
set -a; . ${shQuote(paths.env)}; set +a
${sh`BERTH_PID_FILE=${paths.pid} nohup setsid /usr/bin/env node ${paths.bundle} >> ${paths.log} 2>&1 < /dev/null &`}
echo $! > ${shQuote(paths.pid)}
echo "systemd is not running on this host: the agent was started in the background (pid $!, log ${paths.log}); it will not be restarted after a crash or a reboot"`;
}

function removeCommand(layout: AgentLayout, systemd: boolean): string {
  const paths = layoutPaths(layout);
  return `${sh`rm -f ${paths.unit} ${paths.env} ${paths.pid}`}${systemd ? ' && systemctl daemon-reload' : ''}`;
}

export async function runInstall(options: InstallOptions): Promise<{ hostId: string; steps: Step[] }> {
  const runner = new StepRunner(stepIds, options.onUpdate);
  const { layout } = options;
  const paths = layoutPaths(layout);
  let session: SshSession | undefined;
  let staged: string | undefined;
  let configured = false;
  let systemd = false;
  let hostId = '';
  try {
    await runner.run('connect', async () => {
      session = await connect(runner, options);
      return 'ok';
    });
    const s = session as SshSession;
    const bundle = await readBundle(options.bundle);
    await runner.run('upload', async () => {
      // A private directory of the login user (mktemp -d is 0700): nobody else can swap the file in it.
      const made = await mustRun(
        s,
        'mktemp -d /tmp/berth-install.XXXXXXXX',
        'mktemp',
        'Check /tmp on the host.',
        false,
      );
      staged = made.stdout.trim();
      await s.upload(`${staged}/berth-agent.mjs`, bundle.bytes, 0o644);
      await s.upload(`${staged}/berth-agent.mjs.sha256`, bundle.sha256File, 0o644);
      const verify = await s.exec(sh`cd ${staged} && sha256sum -c berth-agent.mjs.sha256`);
      if (verify.code !== 0)
        throw new StepFailure(
          'the uploaded agent does not match its checksum',
          'The file on the host differs from the control plane’s bundle (a transfer or disk problem, or a bundle rebuilt mid-way). Run the install again; if it persists, rebuild with `npm run build`.',
          outputOf(verify),
        );
      await runner.append(
        'upload',
        `${bundle.bytes.length} bytes, sha256 ${bundle.sha256} verified on the host`,
      );
      return 'ok';
    });
    const stagedDir = staged as string;
    let missing: string[] = [];
    await runner.run('prerequisites', async () => {
      const result = await checkHost(s, stagedDir);
      await runner.append('prerequisites', result.text);
      if (result.blocking.length)
        throw new StepFailure(
          'this host cannot run containers yet',
          `Fix these on the host, then run the install again: ${result.blocking.join('; ')}`,
        );
      missing = result.missing;
      return 'ok';
    });
    await runner.run('packages', async () => {
      if (missing.length === 0) {
        await runner.append('packages', 'nothing to install');
        return 'skipped';
      }
      if (!options.allowPackages)
        throw new StepFailure(
          `missing packages: ${missing.join(', ')}`,
          `Allow package installation and run again, or run on the host: apt-get install -y ${missing.join(' ')}`,
        );
      if ((await s.exec('command -v apt-get', { root: true })).code !== 0)
        throw new StepFailure(
          'this host has no apt-get',
          `Install these with the host’s package manager, then run again: ${missing.join(' ')}`,
        );
      const install = await s.exec(
        `export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq --no-install-recommends ${missing.map(shQuote).join(' ')}`,
        { root: true, timeoutMs: 15 * 60_000 },
      );
      await runner.append('packages', outputOf(install).split('\n').slice(-40).join('\n'));
      if (install.code !== 0)
        throw new StepFailure(
          `apt-get failed (exit ${install.code})`,
          `Run on the host to see why: apt-get install -y ${missing.join(' ')}`,
        );
      const again = await checkHost(s, stagedDir);
      await runner.append('packages', again.text);
      if (again.missing.length || again.blocking.length)
        throw new StepFailure(
          'still missing after installing packages',
          again.missing.includes('nodejs')
            ? 'This distribution’s nodejs is older than 20.19 (Debian 12 ships 18): install Node 20 from NodeSource, then run again.'
            : 'See the output above; install what is missing by hand, then run again.',
        );
      return 'ok';
    });
    await runner.run('configure', async () => {
      systemd = await systemdRunning(s);
      configured = true;
      // The bundle replaces the old one atomically (rename), so a running agent keeps its open file.
      await mustRun(
        s,
        [
          sh`mkdir -p ${layout.prefix} && chmod 0755 ${layout.prefix}`,
          sh`install -m 0644 ${`${stagedDir}/berth-agent.mjs`} ${`${paths.bundle}.new`}`,
          sh`mv -f ${`${paths.bundle}.new`} ${paths.bundle}`,
          sh`(umask 077 && printf '%s' ${agentEnvFile(layout, options.controlPlane)} > ${paths.env})`,
          ...(systemd ? [sh`printf '%s' ${agentUnit(layout)} > ${paths.unit}`] : []),
        ].join(' && '),
        'writing the agent’s files',
        'Check that the install directory is writable by root on the host.',
      );
      await runner.append(
        'configure',
        systemd
          ? `wrote ${paths.bundle}, ${paths.env} and ${paths.unit}`
          : `wrote ${paths.bundle} and ${paths.env}; systemd is not running here, so no unit (the agent will run in the background)`,
      );
      return 'ok';
    });
    await runner.run('enrol', async () => {
      const identity = await s.exec(sh`cat ${paths.identity} 2>/dev/null`, { root: true });
      const record = z.object({ hostId: z.string(), controlPlane: z.string() }).safeParse(
        (() => {
          try {
            return JSON.parse(identity.stdout);
          } catch {
            return undefined;
          }
        })(),
      );
      if (
        record.success &&
        record.data.controlPlane === options.controlPlane &&
        (await options.knownHost(record.data.hostId))
      ) {
        hostId = record.data.hostId;
        await runner.append('enrol', `already enrolled as host ${hostId}: keeping its identity`);
        return 'skipped';
      }
      const token = await options.createEnrollmentToken();
      await mustRun(
        s,
        sh`(umask 077 && printf '%s' ${agentEnvFile(layout, options.controlPlane, token)} > ${paths.env})`,
        'writing the enrolment token',
        'Check that the install directory is writable by root on the host.',
      );
      await runner.append('enrol', 'a one-time enrolment token (valid one hour) was given to the agent');
      return 'ok';
    });
    await runner.run('start', async () => {
      const started = await s.exec(startCommand(layout, systemd), { root: true });
      await runner.append('start', outputOf(started));
      if (started.code !== 0)
        throw new StepFailure(
          `the agent did not start (exit ${started.code})`,
          systemd ? `See \`journalctl -u ${layout.unitName}\` on the host.` : `See ${paths.log} on the host.`,
        );
      return 'ok';
    });
    await runner.run('heartbeat', async () => {
      const deadline = Date.now() + (options.heartbeatTimeoutMs ?? 60_000);
      while (!hostId && Date.now() < deadline) {
        const identity = await s.exec(sh`cat ${paths.identity} 2>/dev/null`, { root: true });
        const parsed = z.object({ hostId: z.string(), controlPlane: z.string() }).safeParse(
          (() => {
            try {
              return JSON.parse(identity.stdout);
            } catch {
              return undefined;
            }
          })(),
        );
        if (parsed.success && parsed.data.controlPlane === options.controlPlane) hostId = parsed.data.hostId;
        else await new Promise((resolve) => setTimeout(resolve, 500));
      }
      const online = hostId ? await options.waitOnline(hostId, Math.max(1000, deadline - Date.now())) : false;
      if (!online) {
        const logs = await s.exec(
          systemd ? sh`journalctl -u ${layout.unitName} -n 30 --no-pager` : sh`tail -n 30 ${paths.log}`,
          { root: true },
        );
        throw new StepFailure(
          hostId ? 'the agent enrolled but did not come online' : 'the agent did not enrol',
          `The agent must reach ${options.controlPlane} from the host; its last log lines are above.`,
          outputOf(logs),
        );
      }
      // The token is spent; the environment file no longer needs it.
      await s.exec(
        sh`(umask 077 && printf '%s' ${agentEnvFile(layout, options.controlPlane)} > ${paths.env})`,
        {
          root: true,
        },
      );
      await runner.append('heartbeat', `host ${hostId} is online`);
      return 'ok';
    });
    return { hostId, steps: runner.steps };
  } catch (error) {
    if (session && configured) {
      // Leave no half-configured service: stop what may have started and remove what this run wrote.
      await session
        .exec(`${stopCommand(layout, systemd)}; ${removeCommand(layout, systemd)}`, { root: true })
        .catch(() => undefined);
    }
    throw error;
  } finally {
    if (session && staged) await session.exec(sh`rm -rf ${staged}`, { root: true }).catch(() => undefined);
    session?.close();
  }
}

export interface UninstallOptions {
  target: SshTarget;
  credentials: SshCredentials;
  fingerprint: string;
  layout: AgentLayout;
  removeContainers: boolean;
  onUpdate: (steps: Step[]) => void | Promise<void>;
}

// Asks the agent's own Docker API to remove every container (force, with anonymous volumes) before it stops.
const removeContainersScript = `
const http = require('node:http');
const socketPath = process.argv[1];
const call = (method, path) => new Promise((resolve, reject) => {
  const req = http.request({ socketPath, method, path }, (res) => {
    let body = '';
    res.on('data', (d) => { body += d; });
    res.on('end', () => resolve({ status: res.statusCode, body }));
  });
  req.on('error', reject);
  req.end();
});
(async () => {
  const list = JSON.parse((await call('GET', '/containers/json?all=1')).body);
  for (const c of list) {
    const r = await call('DELETE', '/containers/' + c.Id + '?force=1&v=1');
    console.log((c.Names[0] || c.Id) + ': ' + (r.status === 204 ? 'removed' : 'HTTP ' + r.status + ' ' + r.body));
  }
  console.log(list.length + ' container(s)');
})().catch((e) => { console.error(e.message); process.exit(1); });
`;

export async function runUninstall(options: UninstallOptions): Promise<{ steps: Step[] }> {
  const runner = new StepRunner(uninstallStepIds, options.onUpdate);
  const { layout } = options;
  let session: SshSession | undefined;
  try {
    await runner.run('connect', async () => {
      session = await connect(runner, options);
      return 'ok';
    });
    const s = session as SshSession;
    const systemd = await systemdRunning(s);
    await runner.run('containers', async () => {
      if (!options.removeContainers) {
        await runner.append('containers', 'kept (they keep running without the agent)');
        return 'skipped';
      }
      const removed = await s.exec(sh`node -e ${removeContainersScript} ${layout.dockerSocket}`, {
        root: true,
      });
      await runner.append('containers', outputOf(removed));
      if (removed.code !== 0)
        throw new StepFailure(
          'could not remove the containers',
          'The agent must be running to remove its containers; start it, or uninstall keeping them.',
        );
      return 'ok';
    });
    await runner.run('stop', async () => {
      const stopped = await s.exec(stopCommand(layout, systemd), { root: true });
      await runner.append('stop', outputOf(stopped) || 'the agent was not running');
      return 'ok';
    });
    await runner.run('remove', async () => {
      const paths = layoutPaths(layout);
      await mustRun(
        s,
        `${removeCommand(layout, systemd)} && ${sh`rm -f ${paths.bundle} ${paths.log} && rm -rf ${`${layout.prefix}/native`}`}`,
        'removing the agent’s files',
        'Remove them by hand on the host.',
      );
      await runner.append(
        'remove',
        `removed the agent and its service; ${layout.dataRoot} is kept (images, volumes, the host identity)`,
      );
      return 'ok';
    });
    return { steps: runner.steps };
  } finally {
    session?.close();
  }
}
