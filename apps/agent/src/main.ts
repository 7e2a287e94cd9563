/**
 * `npm run agent -- --data-root DIR --docker-socket PATH`: the agent standalone (`--bridge-name`,
 * `--bridge-subnet` and `--bridge-prefix` keep a second agent on the same kernel off the first one's bridges
 * and addresses). SIGTERM/SIGINT close the services and exit; containers keep running (conmon outlives us)
 * and the next start re-attaches.
 * `berth-agent check [--json]` only checks the host's prerequisites (exit 1 when one is missing); the agent
 * runs the same check before starting and refuses to start without them.
 * Run as the bundle (`npm run build`) with a control plane, the agent updates itself to the control plane's
 * bundle (upgrade/self-update.ts) and restarts on it: under systemd by exiting with 75 (Restart=on-failure
 * starts the new file; KillMode=process keeps the containers), elsewhere by starting the new file detached
 * and rewriting the pid file before it exits.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { Agent } from './agent';
import { readConfig } from './config';
import { checkPrerequisites, formatReport } from './prerequisites/check';
import { updateBundle } from './upgrade/self-update';

/** The exit status that asks systemd (Restart=on-failure) to start the agent again, on its new bundle. */
const restartForUpdate = 75;

async function check(argv: string[]): Promise<void> {
  const report = await checkPrerequisites();
  process.stdout.write(argv.includes('--json') ? `${JSON.stringify(report)}\n` : formatReport(report));
  process.exitCode = report.ok ? 0 : 1;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === 'check') return check(argv.slice(1));
  const config = readConfig(argv);
  const log = pino({ level: config.logLevel, base: { pid: process.pid }, redact: ['*.password', '*.auth'] });
  const report = await checkPrerequisites();
  if (!report.ok) {
    for (const item of report.items.filter((i) => !i.ok))
      log.error({ item: item.name, fix: item.fix }, item.detail);
    throw new Error(`this host lacks what the agent needs:\n${formatReport(report)}`);
  }
  const agent = await Agent.start({
    dataRoot: config.dataRoot,
    dockerSocket: config.dockerSocket,
    log,
    ...(config.controlPlane ? { controlPlane: config.controlPlane } : {}),
    ...(config.enrollToken ? { enrollToken: config.enrollToken } : {}),
    engine: {
      ...(config.bridgeName ? { defaultBridgeName: config.bridgeName } : {}),
      ...(config.bridgeSubnet ? { defaultBridgeSubnet: config.bridgeSubnet } : {}),
      ...(config.bridgePrefix ? { bridgePrefix: config.bridgePrefix } : {}),
    },
  });
  let stopping = false;
  const stop = (signal: string, then: () => Promise<void> | void = () => process.exit(0)) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    agent.close().then(
      () => then(),
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  // Only the bundle updates itself: `npm run agent` runs the checkout's sources (esbuild defines this).
  const { controlPlane } = config;
  if (process.env.BERTH_AGENT_BUNDLED === '1' && controlPlane && config.updateIntervalMs > 0) {
    const bundlePath = fileURLToPath(import.meta.url);
    let checking = false;
    const timer = setInterval(async () => {
      if (checking || stopping) return;
      checking = true;
      const result = await updateBundle(controlPlane, bundlePath).finally(() => {
        checking = false;
      });
      if (result.kind === 'failed')
        log.warn({ reason: result.reason }, 'agent update failed; will try again');
      if (result.kind !== 'updated' || stopping) return;
      clearInterval(timer);
      log.info({ version: result.version, sha256: result.to }, 'agent updated; restarting on the new bundle');
      stop('update', async () => {
        // systemd sets INVOCATION_ID for the processes of a unit.
        if (process.env.INVOCATION_ID) process.exit(restartForUpdate);
        const child = spawn(process.execPath, [bundlePath, ...argv], {
          detached: true,
          stdio: 'inherit',
          env: process.env,
        });
        child.unref();
        if (config.pidFile && child.pid) await writeFile(config.pidFile, `${child.pid}\n`);
        process.exit(0);
      });
    }, config.updateIntervalMs);
    timer.unref();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
