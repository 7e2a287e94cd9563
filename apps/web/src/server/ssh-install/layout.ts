/**
 * Where an installed agent lives on a host, and the files the installers write there: the systemd unit, the
 * environment file the agent reads its configuration from, and the nohup fallback for hosts without systemd.
 * Paths are limited to a plain character set so they are safe in a unit file as well as in the shell.
 */
import { z } from 'zod';
import { envFileQuote } from './quote';

const plainPath = z
  .string()
  .min(2)
  .max(200)
  .regex(/^\/[A-Za-z0-9._/-]+$/, 'must be an absolute path of letters, digits, . _ / -')
  .refine((path) => !path.split('/').includes('..'), 'must not contain ..');

export const layoutSchema = z.object({
  /** The bundle, its native addon, the environment file (and the fallback's log and pid file). */
  prefix: plainPath,
  dataRoot: plainPath,
  dockerSocket: plainPath,
  unitName: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,40}$/),
});
export type AgentLayout = z.infer<typeof layoutSchema>;

export const defaultLayout: AgentLayout = {
  prefix: '/opt/berth',
  dataRoot: '/var/lib/berth',
  dockerSocket: '/run/berth/docker.sock',
  unitName: 'berth-agent',
};

export function layoutPaths(layout: AgentLayout) {
  return {
    bundle: `${layout.prefix}/berth-agent.mjs`,
    env: `${layout.prefix}/agent.env`,
    log: `${layout.prefix}/agent.log`,
    pid: `${layout.prefix}/agent.pid`,
    unit: `/etc/systemd/system/${layout.unitName}.service`,
    identity: `${layout.dataRoot}/agent/identity.json`,
  };
}

/**
 * The unit: restarted on failure, and KillMode=process so that stopping or restarting the agent signals the
 * agent alone — the containers' conmon processes are children of its cgroup and must outlive it (the agent
 * re-attaches to them when it starts again), exactly as containerd-shim outlives dockerd.
 */
export function agentUnit(layout: AgentLayout): string {
  const paths = layoutPaths(layout);
  return `[Unit]
Description=Berth agent (runs this host's containers for the Berth control plane)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
EnvironmentFile=${paths.env}
ExecStart=/usr/bin/env node ${paths.bundle}
Restart=on-failure
RestartSec=2
KillMode=process
TimeoutStopSec=30

[Install]
WantedBy=multi-user.target
`;
}

/** The agent's configuration as an environment file (read by systemd's EnvironmentFile= and by `. file`). */
export function agentEnvFile(layout: AgentLayout, controlPlane: string, enrollToken?: string): string {
  const lines = [
    `BERTH_CONTROL_PLANE=${envFileQuote(controlPlane)}`,
    `BERTH_DATA_ROOT=${envFileQuote(layout.dataRoot)}`,
    `BERTH_DOCKER_SOCKET=${envFileQuote(layout.dockerSocket)}`,
  ];
  if (enrollToken) lines.push(`BERTH_ENROLL_TOKEN=${envFileQuote(enrollToken)}`);
  return `${lines.join('\n')}\n`;
}
