import { type Json, URN } from './resources.js';

/**
 * RFC 7644 §4 discovery: what this SCIM service provider supports. PATCH,
 * filter (eq, joined by and) and pagination yes; bulk, sort, ETags and
 * password changes no (a provisioned person signs in through the IdP).
 */
export function serviceProviderConfig(base: string): Json {
  return {
    schemas: [URN.config],
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: MAX_COUNT },
    changePassword: { supported: false },
    sort: { supported: false },
    etag: { supported: false },
    authenticationSchemes: [
      {
        type: 'oauthbearertoken',
        name: 'Bearer token',
        description: 'A token made by `waxseal scim-token create`, sent as Authorization: Bearer',
        primary: true,
      },
    ],
    meta: { resourceType: 'ServiceProviderConfig', location: `${base}/ServiceProviderConfig` },
  };
}

/** The largest page a list returns (ServiceProviderConfig filter.maxResults). */
export const MAX_COUNT = 200;

export function resourceTypes(base: string): Json[] {
  return [
    {
      schemas: [URN.resourceType],
      id: 'User',
      name: 'User',
      endpoint: '/Users',
      description: 'A Waxseal user; userName is their email',
      schema: URN.user,
      meta: { resourceType: 'ResourceType', location: `${base}/ResourceTypes/User` },
    },
    {
      schemas: [URN.resourceType],
      id: 'Group',
      name: 'Group',
      endpoint: '/Groups',
      description: 'An IdP group; its displayName maps to a role through OIDC_ROLE_MAP',
      schema: URN.group,
      meta: { resourceType: 'ResourceType', location: `${base}/ResourceTypes/Group` },
    },
  ];
}

const text = (name: string, more: Json = {}): Json => ({
  name,
  type: 'string',
  multiValued: false,
  required: false,
  caseExact: false,
  mutability: 'readWrite',
  returned: 'default',
  uniqueness: 'none',
  ...more,
});

const sub = (name: string) => text(name);

/** RFC 7643 §7: the attributes Waxseal keeps, so an IdP maps only those. */
export function schemas(base: string): Json[] {
  return [
    {
      schemas: [URN.schema],
      id: URN.user,
      name: 'User',
      description: 'User Account',
      attributes: [
        text('userName', { required: true, uniqueness: 'server', description: 'The email address' }),
        text('externalId', { caseExact: true }),
        {
          ...text('name'),
          type: 'complex',
          subAttributes: [
            'formatted',
            'familyName',
            'givenName',
            'middleName',
            'honorificPrefix',
            'honorificSuffix',
          ].map(sub),
        },
        text('displayName'),
        text('nickName'),
        text('title'),
        text('userType'),
        text('preferredLanguage'),
        text('locale'),
        text('timezone'),
        { ...text('active'), type: 'boolean' },
        {
          ...text('emails'),
          type: 'complex',
          multiValued: true,
          subAttributes: [sub('value'), sub('type'), sub('display'), { ...sub('primary'), type: 'boolean' }],
        },
        {
          ...text('groups'),
          type: 'complex',
          multiValued: true,
          mutability: 'readOnly',
          subAttributes: [sub('value'), sub('display'), { ...sub('$ref'), type: 'reference' }],
        },
      ],
      meta: { resourceType: 'Schema', location: `${base}/Schemas/${URN.user}` },
    },
    {
      schemas: [URN.schema],
      id: URN.group,
      name: 'Group',
      description: 'Group',
      attributes: [
        text('displayName', { required: true, uniqueness: 'server' }),
        text('externalId', { caseExact: true }),
        {
          ...text('members'),
          type: 'complex',
          multiValued: true,
          subAttributes: [sub('value'), sub('display'), { ...sub('$ref'), type: 'reference' }],
        },
      ],
      meta: { resourceType: 'Schema', location: `${base}/Schemas/${URN.group}` },
    },
  ];
}
