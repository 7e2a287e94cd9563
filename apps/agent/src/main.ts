/**
 * `npm run agent -- --data-root DIR --docker-socket PATH`: the agent standalone. SIGTERM/SIGINT close the
 * services and exit; containers keep running (conmon outlives us) and the next start re-attaches.
 * `berth-agent check [--json]` only checks the host's prerequisites (exit 1 when one is missing); the agent
 * runs the same check before starting and refuses to start without them.
 */
import { pino } from 'pino';
import { Agent } from './agent';
import { readConfig } from './config';
import { checkPrerequisites, formatReport } from './prerequisites/check';

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
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    agent.close().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
