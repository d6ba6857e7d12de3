import type { GroupRoles, RoleOrNone } from '../config.js';
import { ROLES, type Role } from '../domain/permissions.js';

/** ROLES is ordered from most to least powerful; the lower the index, the higher the role. */
const rank = (role: Role) => ROLES.indexOf(role);

/** The role claim as a list of group names: IdPs send an array, some a single string. */
export function groupsOf(claims: Record<string, unknown>, claim: string): string[] {
  const value = claims[claim];
  if (Array.isArray(value)) return value.filter((g): g is string => typeof g === 'string');
  if (typeof value === 'string') return value.split(/[\s,]+/).filter(Boolean);
  return [];
}

/** SPEC §10: the highest role any of the person's groups maps to; none mapped → OIDC_DEFAULT_ROLE. */
export function roleFromGroups(settings: GroupRoles, groups: readonly string[]): RoleOrNone {
  let best: Role | null = null;
  for (const { group, role } of settings.roleMap) {
    if (groups.includes(group) && (best === null || rank(role) < rank(best))) best = role;
  }
  return best ?? settings.defaultRole;
}
