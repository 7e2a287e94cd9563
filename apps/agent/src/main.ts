/**
 * `npm run agent -- --data-root DIR --docker-socket PATH`: the agent standalone. SIGTERM/SIGINT close the
 * services and exit; containers keep running (conmon outlives us) and the next start re-attaches.
 */
import { pino } from 'pino';
import { Agent } from './agent';
import { readConfig } from './config';

async function main(): Promise<void> {
  const config = readConfig();
  const log = pino({ level: config.logLevel, base: { pid: process.pid }, redact: ['*.password', '*.auth'] });
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
