import { describe, expect, it } from 'vitest';
import { agentUnit, defaultLayout, layoutPaths } from './layout';

describe('the agent unit', () => {
  const unit = agentUnit(defaultLayout);

  it('restarts the agent on failure and signals only the agent when stopping it (containers survive)', () => {
    expect(unit).toMatch(/^Restart=on-failure$/m);
    expect(unit).toMatch(/^KillMode=process$/m);
    expect(unit).not.toMatch(/^KillMode=(control-group|mixed)$/m);
  });

  it('runs the bundle with its environment file and starts at boot', () => {
    const paths = layoutPaths(defaultLayout);
    expect(unit).toContain(`EnvironmentFile=${paths.env}`);
    expect(unit).toContain(`ExecStart=/usr/bin/env node ${paths.bundle}`);
    expect(unit).toMatch(/^WantedBy=multi-user\.target$/m);
    expect(paths.unit).toBe('/etc/systemd/system/berth-agent.service');
  });
});
