/** Human words for SPEC §5: what each role is for, and what each permission allows. */

export const ROLE_SUMMARY: Record<string, string> = {
  owner: 'Everything, including managing members.',
  admin: 'Sees every connection, revokes connections and regenerates their keys.',
  viewer: 'Sees every connection and its details; changes nothing.',
  member: 'No access to the connections list; may still connect MCP clients.',
};

export const PERMISSION_ALLOWS: Record<string, string> = {
  MCP_CONNECTIONS_READ: 'view the connections list and every detail',
  MCP_CONNECTIONS_REVOKE: 'revoke connections and regenerate their keys',
  MEMBERS_MANAGE: 'add members and change their roles',
};
