/**
 * "Add host over SSH" for a team: see the host key, confirm and pin it, then run the install (or uninstall) in
 * the background while its steps are saved on an install run that the browser polls. The SSH password, key
 * and sudo password live only in this process for the run's duration: they are not stored, logged, audited or
 * returned.
 */

import { env } from '../../env';
import { createEnrollmentToken } from '../agents/enrollment';
import { recordAudit } from '../audit';
import { db } from '../db';
import { agentBundleDir } from './bundle';
import { SshInstallError } from './errors';
import { runInstall, runUninstall, type Step, stepSchema } from './installer';
import { type AgentLayout, defaultLayout, layoutSchema } from './layout';
import type { SshInstallInput, SshUninstallInput } from './schemas';
import { type HostKey, probeHostKey, type SshCredentials } from './session';

export function addressOf(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export interface ProbeResult extends HostKey {
  address: string;
  /** The key pinned for this address, when one is: `matches` false means the host key changed. */
  pinned: { fingerprint: string; matches: boolean } | null;
}

export async function probe(teamId: string, host: string, port: number): Promise<ProbeResult> {
  const key = await probeHostKey({ host, port });
  const address = addressOf(host, port);
  const pin = await db().sshHostKey.findUnique({ where: { teamId_address: { teamId, address } } });
  return {
    ...key,
    address,
    pinned: pin ? { fingerprint: pin.fingerprint, matches: pin.fingerprint === key.fingerprint } : null,
  };
}

/** Pins the confirmed key on first use; a different pinned key is refused loudly. */
async function pinHostKey(
  teamId: string,
  address: string,
  fingerprint: string,
  userId: string,
): Promise<void> {
  const pin = await db().sshHostKey.findUnique({ where: { teamId_address: { teamId, address } } });
  if (pin && pin.fingerprint !== fingerprint)
    throw new SshInstallError(
      'host_key_changed',
      `The host key of ${address} changed: it was ${pin.fingerprint} when confirmed, the confirmation now names ${fingerprint}. Refusing: if the host was reinstalled, forget the pinned key first.`,
    );
  if (pin) return;
  await db().sshHostKey.create({ data: { teamId, address, keyType: 'ssh', fingerprint, createdBy: userId } });
  await recordAudit({
    action: 'host.ssh_key_pinned',
    teamId,
    userId,
    target: address,
    detail: { fingerprint },
  });
}

export async function forgetHostKey(
  teamId: string,
  host: string,
  port: number,
  userId: string,
): Promise<void> {
  const address = addressOf(host, port);
  const removed = await db().sshHostKey.deleteMany({ where: { teamId, address } });
  if (removed.count === 0) throw new SshInstallError('not_found', `No key is pinned for ${address}.`);
  await recordAudit({ action: 'host.ssh_key_forgotten', teamId, userId, target: address });
}

function credentialsOf(input: SshInstallInput | SshUninstallInput): SshCredentials {
  if (!input.privateKey && !input.password)
    throw new SshInstallError('invalid_argument', 'Give a private key or a password to log in with.');
  return {
    privateKey: input.privateKey || undefined,
    passphrase: input.passphrase || undefined,
    password: input.password || undefined,
    sudoPassword: input.sudoPassword || undefined,
  };
}

function layoutOf(input: SshInstallInput | SshUninstallInput): AgentLayout {
  return layoutSchema.parse({ ...defaultLayout, ...input.layout });
}

/** Step updates are written in order, one at a time; a final write waits for those before it. */
function runRecorder(id: string) {
  let chain: Promise<unknown> = Promise.resolve();
  const write = (data: { steps?: Step[]; status?: string; hostId?: string }) => {
    chain = chain.then(() =>
      db()
        .sshInstall.update({ where: { id }, data })
        .catch(() => undefined),
    );
    return chain;
  };
  return { update: (steps: Step[]) => void write({ steps }), finish: write };
}

async function beginRun(
  teamId: string,
  userId: string,
  input: SshInstallInput | SshUninstallInput,
  kind: 'install' | 'uninstall',
) {
  const address = addressOf(input.host, input.port);
  const running = await db().sshInstall.findFirst({
    where: { teamId, address, status: 'running', updatedAt: { gt: new Date(Date.now() - 30 * 60_000) } },
  });
  if (running) throw new SshInstallError('conflict', `An ${running.kind} on ${address} is already running.`);
  await pinHostKey(teamId, address, input.fingerprint, userId);
  const run = await db().sshInstall.create({
    data: {
      teamId,
      address,
      username: input.username,
      kind,
      status: 'running',
      steps: [],
      createdBy: userId,
    },
  });
  return { run, address };
}

export async function startInstall(
  teamId: string,
  userId: string,
  input: SshInstallInput,
): Promise<{ id: string; done: Promise<void> }> {
  const credentials = credentialsOf(input);
  const layout = layoutOf(input);
  const { run, address } = await beginRun(teamId, userId, input, 'install');
  await recordAudit({
    action: 'host.ssh_install',
    teamId,
    userId,
    target: address,
    detail: { user: input.username, allowPackages: input.allowPackages, run: run.id },
  });
  const recorder = runRecorder(run.id);
  const done = runInstall({
    target: { host: input.host, port: input.port, username: input.username },
    credentials,
    fingerprint: input.fingerprint,
    layout,
    controlPlane: env().BERTH_PUBLIC_URL,
    allowPackages: input.allowPackages,
    bundle: { dir: agentBundleDir() },
    knownHost: async (hostId) => (await db().host.count({ where: { id: hostId, teamId } })) > 0,
    createEnrollmentToken: async () => (await createEnrollmentToken(teamId, userId)).token,
    waitOnline: async (hostId, timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (await db().host.count({ where: { id: hostId, teamId, online: true } })) return true;
        if (Date.now() > deadline) return false;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    },
    onUpdate: recorder.update,
  }).then(
    async ({ hostId, steps }) => {
      await recorder.finish({ steps, status: 'succeeded', hostId });
      await recordAudit({
        action: 'host.ssh_installed',
        teamId,
        userId,
        target: hostId,
        detail: { address },
      });
    },
    async (error: unknown) => {
      await recorder.finish({ status: 'failed' });
      await recordAudit({
        action: 'host.ssh_install_failed',
        teamId,
        userId,
        target: address,
        detail: { reason: (error as Error).message.slice(0, 300) },
      });
    },
  );
  return { id: run.id, done };
}

export async function startUninstall(
  teamId: string,
  userId: string,
  input: SshUninstallInput,
): Promise<{ id: string; done: Promise<void> }> {
  const credentials = credentialsOf(input);
  const layout = layoutOf(input);
  const { run, address } = await beginRun(teamId, userId, input, 'uninstall');
  await recordAudit({
    action: 'host.ssh_uninstall',
    teamId,
    userId,
    target: address,
    detail: { user: input.username, removeContainers: input.removeContainers, run: run.id },
  });
  const recorder = runRecorder(run.id);
  const done = runUninstall({
    target: { host: input.host, port: input.port, username: input.username },
    credentials,
    fingerprint: input.fingerprint,
    layout,
    removeContainers: input.removeContainers,
    onUpdate: recorder.update,
  }).then(
    async ({ steps }) => {
      await recorder.finish({ steps, status: 'succeeded' });
      await recordAudit({ action: 'host.ssh_uninstalled', teamId, userId, target: address });
    },
    async (error: unknown) => {
      await recorder.finish({ status: 'failed' });
      await recordAudit({
        action: 'host.ssh_uninstall_failed',
        teamId,
        userId,
        target: address,
        detail: { reason: (error as Error).message.slice(0, 300) },
      });
    },
  );
  return { id: run.id, done };
}

export interface InstallRun {
  id: string;
  kind: string;
  address: string;
  username: string;
  status: 'running' | 'succeeded' | 'failed';
  hostId: string | null;
  steps: Step[];
  createdAt: string;
}

export async function getRun(teamId: string, id: string): Promise<InstallRun> {
  const run = await db().sshInstall.findFirst({ where: { id, teamId } });
  if (!run) throw new SshInstallError('not_found', 'No such install run.');
  const steps = stepSchema.array().safeParse(run.steps);
  return {
    id: run.id,
    kind: run.kind,
    address: run.address,
    username: run.username,
    status: run.status === 'succeeded' || run.status === 'failed' ? run.status : 'running',
    hostId: run.hostId,
    steps: steps.success ? steps.data : [],
    createdAt: run.createdAt.toISOString(),
  };
}
