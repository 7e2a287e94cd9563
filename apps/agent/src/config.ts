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
});

export type AgentConfig = z.infer<typeof agentConfigSchema>;

export const defaultConfig: AgentConfig = {
  dataRoot: '/var/lib/berth',
  dockerSocket: '/run/berth/docker.sock',
  logLevel: 'info',
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
    },
    strict: true,
    allowPositionals: false,
  });
  return agentConfigSchema.parse({
    dataRoot: values['data-root'] ?? env.BERTH_DATA_ROOT ?? defaultConfig.dataRoot,
    dockerSocket: values['docker-socket'] ?? env.BERTH_DOCKER_SOCKET ?? defaultConfig.dockerSocket,
    logLevel: values['log-level'] ?? env.BERTH_LOG_LEVEL ?? defaultConfig.logLevel,
  });
}
