/** SPEC §5: built-in roles and what they may do. */
export const ROLES = ['owner', 'admin', 'viewer', 'member'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = {
  MCP_CONNECTIONS_READ: 'api-keys:read',
  MCP_CONNECTIONS_REVOKE: 'api-keys:revoke',
  MEMBERS_MANAGE: 'members:manage',
} as const;
export type Permission = (typeof PERMISSIONS)[keyof typeof PERMISSIONS];

const GRANTS: Record<Role, readonly Permission[]> = {
  owner: [PERMISSIONS.MCP_CONNECTIONS_READ, PERMISSIONS.MCP_CONNECTIONS_REVOKE, PERMISSIONS.MEMBERS_MANAGE],
  admin: [PERMISSIONS.MCP_CONNECTIONS_READ, PERMISSIONS.MCP_CONNECTIONS_REVOKE],
  viewer: [PERMISSIONS.MCP_CONNECTIONS_READ],
  member: [],
};

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

export function permissionsOf(role: Role): readonly Permission[] {
  return GRANTS[role];
}

export function can(role: Role, permission: Permission): boolean {
  return GRANTS[role].includes(permission);
}
