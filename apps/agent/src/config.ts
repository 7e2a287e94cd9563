/**
 * The standalone agent's configuration, read once from argv and the environment and checked with zod.
 * Command-line flags win over environment variables; nothing else in the agent reads `process.env`.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';

export const agentConfigSchema = z.object({
  dataRoot: z.string().min(1).startsWith('/', 'must be an absolute path'),
  dockerSocket: z.string().min(1).startsWith('/', 'must be an absolute path'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  /** The control plane to dial (http(s)://host:port); absent means standalone. */
  controlPlane: z.string().url().optional(),
  /** A one-time enrolment token from the control plane's "Add a host"; needed only on the first start. */
  enrollToken: z.string().min(16).max(256).optional(),
  /** How often the bundled agent asks the control plane for a newer bundle (ms; 0 never). */
  updateIntervalMs: z.coerce
    .number()
    .int()
    .min(0)
    .default(10 * 60_000),
  /** Without systemd: the file holding the agent's pid, rewritten when it restarts itself after an update. */
  pidFile: z.string().startsWith('/', 'must be an absolute path').optional(),
});

export type AgentConfig = z.infer<typeof agentConfigSchema>;

export const defaultConfig: AgentConfig = {
  dataRoot: '/var/lib/berth',
  dockerSocket: '/run/berth/docker.sock',
  logLevel: 'info',
  updateIntervalMs: 10 * 60_000,
};

export function readConfig(
  argv: readonly string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
): AgentConfig {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      'data-root': { type: 'string' },
      'docker-socket': { type: 'string' },
      'log-level': { type: 'string' },
      'control-plane': { type: 'string' },
      'enroll-token': { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  return agentConfigSchema.parse({
    dataRoot: values['data-root'] ?? env.BERTH_DATA_ROOT ?? defaultConfig.dataRoot,
    dockerSocket: values['docker-socket'] ?? env.BERTH_DOCKER_SOCKET ?? defaultConfig.dockerSocket,
    logLevel: values['log-level'] ?? env.BERTH_LOG_LEVEL ?? defaultConfig.logLevel,
    controlPlane: values['control-plane'] ?? env.BERTH_CONTROL_PLANE ?? undefined,
    enrollToken: values['enroll-token'] ?? env.BERTH_ENROLL_TOKEN ?? undefined,
    updateIntervalMs: env.BERTH_UPDATE_INTERVAL_MS ?? defaultConfig.updateIntervalMs,
    pidFile: env.BERTH_PID_FILE ?? undefined,
  });
}
