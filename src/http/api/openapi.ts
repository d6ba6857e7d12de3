import { Router } from 'express';
import { ROLES } from '../../domain/permissions.js';
import type { Services } from '../../services/context.js';
import { SESSION_COOKIE } from '../support.js';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
const error = (description: string) => json(ref('Error'), description);
const nullableTime = { type: ['string', 'null'], format: 'date-time' };

const E401 = { 401: error('No dashboard session') };
const E403 = { 403: error('The signed-in user lacks the permission') };
const E403_WRITE = { 403: error('The user lacks the permission, or the request came from another site') };

const connectionAction = (summary: string, permission: string, conflict: string) => ({
  post: {
    summary,
    description: `Needs \`${permission}\`. Must come from the dashboard's own origin.`,
    parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
    responses: {
      200: json(ref('Connection'), 'The connection after the change'),
      ...E401,
      ...E403_WRITE,
      404: error('No connection with this id'),
      409: error(conflict),
    },
  },
});

/** A members call taking `{ email }` (SPEC §10 Disable / Enable), for owners. */
const memberAction = (summary: string, conflict?: string) => ({
  post: {
    summary,
    description: "Needs `members:manage`. Must come from the dashboard's own origin.",
    requestBody: { required: true, content: { 'application/json': { schema: ref('MemberEmail') } } },
    responses: {
      200: json(ref('Member'), 'The user'),
      400: error('A bad field, named in the message'),
      ...E401,
      ...E403_WRITE,
      404: error('No user with this email'),
      ...(conflict ? { 409: error(conflict) } : {}),
    },
  },
});

/** OpenAPI 3.1 description of every /api call (SPEC §7). */
export function openApiDocument(s: Services) {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Waxseal admin API',
      version: '1',
      description:
        'JSON API behind the dashboard. Authenticated by the dashboard session cookie; every state-changing call must come from the dashboard origin (Origin or Sec-Fetch-Site), a cross-site one gets 403. Bad input gets 400 with a message naming the field.',
    },
    servers: [{ url: s.config.publicUrl }],
    security: [{ session: [] }],
    paths: {
      '/api/me': {
        get: {
          summary: 'The signed-in user',
          responses: { 200: json(ref('Me'), 'Email, role and permissions'), ...E401 },
        },
      },
      '/api/config': {
        get: {
          summary: "This server's public and MCP URLs, for the How to Connect help",
          responses: { 200: json(ref('Config'), 'The URLs'), ...E401 },
        },
      },
      '/api/mcp-connections': {
        get: {
          summary: 'List connections, newest first, keyset-paginated',
          description: 'Needs `api-keys:read` (MCP_CONNECTIONS_READ).',
          parameters: [
            { name: 'status', in: 'query', schema: { type: 'string', enum: ['active', 'revoked'] } },
            {
              name: 'q',
              in: 'query',
              description: 'Case-insensitive search in client name and user email',
              schema: { type: 'string', maxLength: 200 },
            },
            {
              name: 'limit',
              in: 'query',
              schema: { type: 'integer', minimum: 1, maximum: 100, default: 25 },
            },
            {
              name: 'cursor',
              in: 'query',
              description: 'The nextCursor of the previous page',
              schema: { type: 'string' },
            },
          ],
          responses: {
            200: json(ref('ConnectionPage'), 'One page'),
            400: error('A bad parameter, named in the message'),
            ...E401,
            ...E403,
          },
        },
      },
      '/api/mcp-connections/{id}/revoke': connectionAction(
        'Revoke a connection: its API key and every token stop working at once',
        'api-keys:revoke',
        'The connection is already revoked',
      ),
      '/api/mcp-connections/revoke-all': {
        post: {
          summary: 'Revoke every active connection of one user (SPEC §10)',
          description: "Needs `api-keys:revoke`. Must come from the dashboard's own origin.",
          requestBody: { required: true, content: { 'application/json': { schema: ref('RevokeAll') } } },
          responses: {
            200: json(ref('RevokedCount'), 'How many connections were revoked'),
            400: error('A bad field, named in the message'),
            ...E401,
            ...E403_WRITE,
            404: error('No user with this email'),
          },
        },
      },
      '/api/mcp-connections/{id}/tools': {
        get: {
          summary: 'The tools of a connection (SPEC §12): its allow-list and the tools its role may use',
          description: 'Needs `api-keys:read`.',
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            200: json(ref('ConnectionTools'), 'The allow-list and what the role offers'),
            ...E401,
            ...E403,
            404: error('No connection with this id'),
          },
        },
        put: {
          summary:
            'Narrow a connection to some tools, or give it every tool its role may use again (SPEC §12)',
          description:
            "Needs `api-keys:revoke`. Must come from the dashboard's own origin. In force on every instance from the connection's next request: tools outside the list are absent from tools/list and calling one gets the error of an unknown tool. Audited as `connection.tools_changed`.",
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          requestBody: { required: true, content: { 'application/json': { schema: ref('ToolAllow') } } },
          responses: {
            200: json(ref('ToolAllow'), 'The allow-list as stored (sorted, without repeats)'),
            400: error('A bad field, named in the message'),
            ...E401,
            ...E403_WRITE,
            404: error('No connection with this id'),
          },
        },
      },
      '/api/mcp-connections/{id}/regenerate-key': connectionAction(
        'Replace the API key of an active connection; the old key is deactivated at once',
        'api-keys:revoke',
        'The connection is revoked',
      ),
      '/api/members': {
        get: {
          summary: 'Users and their roles, and what each role may do',
          description: 'Needs `members:manage` (owners).',
          responses: { 200: json(ref('MemberList'), 'Every user'), ...E401, ...E403 },
        },
        post: {
          summary: 'Add a user',
          description: "Needs `members:manage`. Must come from the dashboard's own origin.",
          requestBody: { required: true, content: { 'application/json': { schema: ref('NewMember') } } },
          responses: {
            201: json(ref('Member'), 'The new user'),
            400: error('A bad field, named in the message'),
            ...E401,
            ...E403_WRITE,
            409: error('A user with this email exists'),
          },
        },
      },
      '/api/members/role': {
        post: {
          summary: "Change a user's role",
          description: "Needs `members:manage`. Must come from the dashboard's own origin.",
          requestBody: { required: true, content: { 'application/json': { schema: ref('RoleChange') } } },
          responses: {
            200: json(ref('Member'), 'The user with the new role'),
            400: error('A bad field, named in the message'),
            ...E401,
            ...E403_WRITE,
            404: error('No user with this email'),
            409: error('The last owner cannot be demoted'),
          },
        },
      },
      '/api/members/disable': memberAction(
        'Disable a user: revoke every connection, end every session (SPEC §10)',
        'The last owner cannot be disabled',
      ),
      '/api/members/enable': memberAction(
        'Enable a user: sign-in works again; revoked connections stay revoked',
      ),
      '/api/audit-events': {
        get: {
          summary: 'Audit events, newest first, optionally of one connection',
          description:
            'Needs `api-keys:read`. Append-only: there is no call that changes or deletes an event.',
          parameters: [
            { name: 'connectionId', in: 'query', schema: { type: 'string' } },
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100 } },
            { name: 'cursor', in: 'query', schema: { type: 'string' } },
          ],
          responses: {
            200: json(
              { type: 'object' },
              '{ items: [{ id, at, actor, action, connectionId, detail }], nextCursor }',
            ),
            400: error('A bad field, named in the message'),
            ...E401,
            ...E403,
          },
        },
      },
      '/api/lockouts': {
        get: {
          summary: 'Accounts and IPs currently locked out of signing in',
          description: 'Needs `members:manage` (owners).',
          responses: { 200: json({ type: 'object' }, 'The lock-outs'), ...E401, ...E403 },
        },
      },
      '/api/lockouts/unlock': {
        post: {
          summary: 'Lift a sign-in lock-out',
          description:
            "Needs `members:manage`. Must come from the dashboard's own origin. Body: `{ email }` or `{ ip }`.",
          requestBody: { required: true, content: { 'application/json': { schema: { type: 'object' } } } },
          responses: {
            200: json({ type: 'object' }, 'Whether it was locked'),
            400: error('Give exactly one of email or ip'),
            ...E401,
            ...E403_WRITE,
          },
        },
      },
      '/api/upstreams': {
        get: {
          summary: 'The configured upstream MCP servers and their state',
          description: 'Needs `api-keys:read`. Empty when Waxseal serves only its own tools.',
          responses: {
            200: json({ type: 'object' }, '{ items: [{ name, transport, status }] }'),
            ...E401,
            ...E403,
          },
        },
      },
      '/api/openapi.json': {
        get: {
          summary: 'This document',
          security: [],
          responses: { 200: { description: 'OpenAPI 3.1 document' } },
        },
      },
    },
    components: {
      securitySchemes: { session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error', 'error_description'],
          properties: { error: { type: 'string' }, error_description: { type: 'string' } },
        },
        Me: {
          type: 'object',
          required: ['email', 'role', 'permissions'],
          properties: {
            email: { type: 'string', format: 'email' },
            role: { type: 'string', enum: [...ROLES] },
            permissions: { type: 'array', items: { type: 'string' } },
          },
        },
        Config: {
          type: 'object',
          required: ['publicUrl', 'mcpUrl'],
          properties: {
            publicUrl: { type: 'string', format: 'uri' },
            mcpUrl: { type: 'string', format: 'uri' },
          },
        },
        Connection: {
          type: 'object',
          required: [
            'id',
            'clientName',
            'status',
            'userEmail',
            'apiKeyPrefix',
            'connectedAt',
            'lastTokenAt',
            'lastUsedAt',
            'lastUsedIp',
            'revokedAt',
            'revokedBy',
          ],
          properties: {
            id: { type: 'string' },
            clientName: {
              type: 'string',
              description: 'From registration; "MCP Client" when none was given',
            },
            status: { type: 'string', enum: ['active', 'revoked'] },
            userEmail: { type: 'string', format: 'email' },
            apiKeyPrefix: {
              type: 'string',
              description: 'First characters of the current API key; the full key is never returned',
            },
            connectedAt: { type: 'string', format: 'date-time' },
            lastTokenAt: { ...nullableTime, description: 'Last refresh grant; null until the first' },
            lastUsedAt: {
              ...nullableTime,
              description:
                'Last /mcp request (SPEC §12), written at most once a minute; null until the first',
            },
            lastUsedIp: {
              type: ['string', 'null'],
              description: 'Client IP of that request (X-Forwarded-For only with TRUST_PROXY_HOPS)',
            },
            revokedAt: nullableTime,
            revokedBy: { type: ['string', 'null'] },
          },
        },
        ToolAllow: {
          type: 'object',
          required: ['allow'],
          properties: {
            allow: {
              type: ['array', 'null'],
              items: { type: 'string', minLength: 1, maxLength: 200 },
              maxItems: 500,
              description:
                'Tool names as the client sees them (after any upstream prefix); null: every tool its role may use',
            },
          },
        },
        ConnectionTools: {
          type: 'object',
          required: ['allow', 'available'],
          properties: {
            allow: { type: ['array', 'null'], items: { type: 'string' } },
            available: {
              type: 'array',
              items: { type: 'string' },
              description:
                'The tools the connection’s role may use, as tools/list would show them without the allow-list; empty for a revoked connection',
            },
          },
        },
        ConnectionPage: {
          type: 'object',
          required: ['total', 'items', 'nextCursor'],
          properties: {
            total: { type: 'integer', description: 'Every connection matching the filter' },
            items: { type: 'array', items: ref('Connection') },
            nextCursor: { type: ['string', 'null'] },
          },
        },
        Member: {
          type: 'object',
          required: [
            'id',
            'email',
            'role',
            'status',
            'source',
            'activeConnections',
            'totpEnabled',
            'createdAt',
          ],
          properties: {
            id: { type: 'string' },
            email: { type: 'string', format: 'email' },
            role: { type: 'string', enum: [...ROLES] },
            status: { type: 'string', enum: ['active', 'disabled'] },
            source: { type: 'string', enum: ['local', 'oidc', 'scim'] },
            activeConnections: { type: 'integer', minimum: 0 },
            totpEnabled: { type: 'boolean' },
            createdAt: { type: 'string', format: 'date-time' },
          },
        },
        MemberList: {
          type: 'object',
          required: ['items', 'roles'],
          properties: {
            items: { type: 'array', items: ref('Member') },
            roles: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  name: { type: 'string', enum: [...ROLES] },
                  permissions: {
                    type: 'array',
                    items: {
                      type: 'object',
                      properties: {
                        name: { type: 'string', examples: ['MCP_CONNECTIONS_READ'] },
                        value: { type: 'string', examples: ['api-keys:read'] },
                      },
                    },
                  },
                },
              },
            },
          },
        },
        NewMember: {
          type: 'object',
          required: ['email', 'password', 'role'],
          properties: {
            email: { type: 'string', format: 'email', maxLength: 254 },
            password: { type: 'string', minLength: 8, maxLength: 1024 },
            role: { type: 'string', enum: [...ROLES] },
          },
        },
        MemberEmail: {
          type: 'object',
          required: ['email'],
          properties: { email: { type: 'string', format: 'email', maxLength: 254 } },
        },
        RevokeAll: {
          type: 'object',
          required: ['userEmail'],
          properties: { userEmail: { type: 'string', format: 'email' } },
        },
        RevokedCount: {
          type: 'object',
          required: ['revoked'],
          properties: { revoked: { type: 'integer', minimum: 0 } },
        },
        RoleChange: {
          type: 'object',
          required: ['email', 'role'],
          properties: {
            email: { type: 'string', format: 'email' },
            role: { type: 'string', enum: [...ROLES] },
          },
        },
      },
    },
  };
}

export function openApiRouter(s: Services): Router {
  const router = Router();
  const document = openApiDocument(s);
  router.get('/api/openapi.json', (_req, res) => {
    res.json(document);
  });
  return router;
}
