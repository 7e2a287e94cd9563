/**
 * The standalone agent's configuration, read once from argv and the environment and checked with zod.
 * Command-line flags win over environment variables; nothing else in the agent reads `process.env`.
 */
import { parseArgs } from 'node:util';
import { parseCidr } from '@berth/engine/networks/ipam';
import { z } from 'zod';

/** A Linux interface name: at most 15 bytes (IFNAMSIZ less the NUL), none of `/`, whitespace or `:`. */
const interfaceName = (max: number) =>
  z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, 'may hold only letters, digits, "_", "." and "-"')
    .max(max, `must be at most ${max} characters (a Linux interface name is at most 15)`);

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
  /**
   * The default bridge's interface (default berth0) and subnet (default: the first free pool subnet), and the
   * prefix of user networks' bridges (default br-): two agents on one kernel, or an agent beside a test run,
   * each get their own so neither takes the other's bridge or addresses.
   */
  bridgeName: interfaceName(15).optional(),
  bridgeSubnet: z
    .string()
    .refine((text) => {
      try {
        parseCidr(text);
        return /^\d+\.\d+\.\d+\.\d+\/\d+$/.test(text);
      } catch {
        return false;
      }
    }, 'must be an IPv4 subnet such as 10.88.0.0/16 (prefix /8 to /30)')
    .optional(),
  // User networks' bridges are the prefix then the network id's first characters; at least four of those.
  bridgePrefix: interfaceName(11).optional(),
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
      'bridge-name': { type: 'string' },
      'bridge-subnet': { type: 'string' },
      'bridge-prefix': { type: 'string' },
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
    bridgeName: values['bridge-name'] ?? env.BERTH_BRIDGE_NAME ?? undefined,
    bridgeSubnet: values['bridge-subnet'] ?? env.BERTH_BRIDGE_SUBNET ?? undefined,
    bridgePrefix: values['bridge-prefix'] ?? env.BERTH_BRIDGE_PREFIX ?? undefined,
  });
}
