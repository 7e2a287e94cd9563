import { describe, expect, it } from 'vitest';
import { cpuPercent } from './usage';

describe('cpuPercent', () => {
  it("is the container's share of the host's CPU time times the CPUs", () => {
    // One of two CPUs busy for the whole second: 100%, as docker stats shows it.
    expect(
      cpuPercent(
        { cpuTotal: 0, systemCpu: 0, onlineCpus: 2 },
        { cpuTotal: 1e9, systemCpu: 2e9, onlineCpus: 2 },
      ),
    ).toBe(100);
  });

  it('has no figure without host time passing or across a restart', () => {
    expect(
      cpuPercent(
        { cpuTotal: 5, systemCpu: 10, onlineCpus: 2 },
        { cpuTotal: 6, systemCpu: 10, onlineCpus: 2 },
      ),
    ).toBe(null);
    expect(
      cpuPercent(
        { cpuTotal: 9, systemCpu: 10, onlineCpus: 2 },
        { cpuTotal: 1, systemCpu: 20, onlineCpus: 2 },
      ),
    ).toBe(null);
  });
});
