/** Roles from least to most powerful; a role may do everything the ones before it may. */
export const roles = ['viewer', 'operator', 'admin', 'owner'] as const;
export type Role = (typeof roles)[number];

export function hasRole(actual: Role, required: Role): boolean {
  return roles.indexOf(actual) >= roles.indexOf(required);
}
