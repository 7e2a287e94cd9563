import { describe, expect, it } from 'vitest';
import { hasRole, roles } from './roles';

describe('roles', () => {
  it('orders viewer < operator < admin < owner', () => {
    expect(hasRole('owner', 'admin')).toBe(true);
    expect(hasRole('admin', 'admin')).toBe(true);
    expect(hasRole('operator', 'admin')).toBe(false);
    expect(hasRole('viewer', 'operator')).toBe(false);
    for (const role of roles) expect(hasRole(role, 'viewer')).toBe(true);
  });
});
