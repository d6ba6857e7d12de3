import { invalidSyntax, invalidValue } from '../../domain/scim-errors.js';
import type { ScimGroup, ScimGroupInput } from '../../services/scim-groups.js';
import type { ScimAttributes, ScimUser, ScimUserInput } from '../../services/scim-users.js';

/** RFC 7643 §8.7.1 / RFC 7644 schema URNs. */
export const URN = {
  user: 'urn:ietf:params:scim:schemas:core:2.0:User',
  group: 'urn:ietf:params:scim:schemas:core:2.0:Group',
  list: 'urn:ietf:params:scim:api:messages:2.0:ListResponse',
  patch: 'urn:ietf:params:scim:api:messages:2.0:PatchOp',
  error: 'urn:ietf:params:scim:api:messages:2.0:Error',
  config: 'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig',
  resourceType: 'urn:ietf:params:scim:schemas:core:2.0:ResourceType',
  schema: 'urn:ietf:params:scim:schemas:core:2.0:Schema',
} as const;

/** The single-valued string attributes of a User that Waxseal keeps and echoes (RFC 7643 §4.1.1). */
export const USER_STRINGS = [
  'displayName',
  'nickName',
  'title',
  'userType',
  'preferredLanguage',
  'locale',
  'timezone',
] as const;
/** The sub-attributes of `name` (RFC 7643 §4.1.1). */
export const NAME_PARTS = [
  'formatted',
  'familyName',
  'givenName',
  'middleName',
  'honorificPrefix',
  'honorificSuffix',
] as const;
/** The sub-attributes of an `emails` entry Waxseal keeps. */
export const EMAIL_PARTS = ['value', 'type', 'primary', 'display'] as const;

/** The canonical spelling of a name, found case-insensitively (RFC 7643 §2.1). */
export function canonical<T extends string>(names: readonly T[], lower: string): T | undefined {
  return names.find((n) => n.toLowerCase() === lower);
}

export type Json = Record<string, unknown>;

export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The value of a key, whatever its case. */
export function field(body: Json, name: string): unknown {
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(body)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

/** RFC 7643 booleans, and the strings Entra ID sends for them ("True", "False"). */
export function toBoolean(value: unknown, what: string): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && /^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
  throw invalidValue(`${what}: must be true or false`);
}

export function toText(value: unknown, what: string, max = 1024): string {
  if (typeof value !== 'string') throw invalidValue(`${what}: must be a string`);
  if (value.length > max) throw invalidValue(`${what}: must be at most ${max} characters`);
  return value;
}

export function toNullableText(value: unknown, what: string): string | null {
  return value === null ? null : toText(value, what);
}

/** A `name` object with only its known string parts. */
export function toName(value: unknown, base: Json = {}): Json {
  if (!isObject(value)) throw invalidValue('name: must be an object');
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(value)) {
    const part = canonical(NAME_PARTS, k.toLowerCase());
    if (part && v !== null) out[part] = toText(v, `name.${part}`);
    if (part && v === null) delete out[part];
  }
  return out;
}

export function toEmail(value: unknown): Json {
  if (!isObject(value)) throw invalidValue('emails: each entry must be an object');
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    const part = canonical(EMAIL_PARTS, k.toLowerCase());
    if (!part || v === null) continue;
    out[part] = part === 'primary' ? toBoolean(v, 'emails.primary') : toText(v, `emails.${part}`, 254);
  }
  return out;
}

export function toEmails(value: unknown): Json[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length > 20) throw invalidValue('emails: at most 20 entries');
  return list.map(toEmail);
}

/** The attributes of a POST or PUT body that Waxseal keeps; unknown ones are ignored. */
function attributesOf(body: Json): ScimAttributes {
  const out: ScimAttributes = {};
  for (const [k, v] of Object.entries(body)) {
    if (v === null || v === undefined) continue;
    const lower = k.toLowerCase();
    const text = canonical(USER_STRINGS, lower);
    if (text) out[text] = toText(v, text);
    else if (lower === 'name') out.name = toName(v);
    else if (lower === 'emails') out.emails = toEmails(v);
  }
  return out;
}

export function requireObject(body: unknown): Json {
  if (!isObject(body)) {
    throw invalidSyntax('The request body must be a JSON object sent as application/scim+json');
  }
  return body;
}

/** RFC 7644 §3.3 / §3.5.1: a whole User; userName is required, active defaults to true. */
export function userFromBody(body: unknown): ScimUserInput {
  const b = requireObject(body);
  const userName = field(b, 'userName');
  if (userName === undefined || userName === null) throw invalidValue('userName: is required');
  const active = field(b, 'active');
  const externalId = field(b, 'externalId');
  return {
    userName: toText(userName, 'userName', 254),
    active: active === undefined || active === null ? true : toBoolean(active, 'active'),
    externalId: externalId === undefined ? null : toNullableText(externalId, 'externalId'),
    attributes: attributesOf(b),
  };
}

/** Member ids of a `members` value: `[{ "value": id }, …]`, or one such object. */
export function memberIds(value: unknown): string[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length > 10_000) throw invalidValue('members: at most 10000 at once');
  return list.map((m) => {
    const id = isObject(m) ? field(m, 'value') : undefined;
    if (typeof id !== 'string' || id.length === 0 || id.length > 100) {
      throw invalidValue('members: each member must be { "value": "<User id>" }');
    }
    return id;
  });
}

/** RFC 7644 §3.3 / §3.5.1: a whole Group. */
export function groupFromBody(body: unknown): ScimGroupInput {
  const b = requireObject(body);
  const displayName = field(b, 'displayName');
  if (displayName === undefined || displayName === null) throw invalidValue('displayName: is required');
  const externalId = field(b, 'externalId');
  const members = field(b, 'members');
  return {
    displayName: toText(displayName, 'displayName', 256),
    externalId: externalId === undefined ? null : toNullableText(externalId, 'externalId'),
    memberIds: members === undefined || members === null ? [] : memberIds(members),
  };
}

function meta(base: string, type: 'User' | 'Group', id: string, created: number, lastModified: number) {
  return {
    resourceType: type,
    created: new Date(created).toISOString(),
    lastModified: new Date(lastModified).toISOString(),
    location: `${base}/${type}s/${id}`,
    version: `W/"${lastModified.toString(36)}"`,
  };
}

/** RFC 7643 §4.1: userName is the email; emails echo what the IdP sent, else the email as work address. */
export function userResource(base: string, u: ScimUser): Json {
  const { emails, ...attributes } = u.attributes;
  return {
    schemas: [URN.user],
    id: u.id,
    ...(u.externalId !== null ? { externalId: u.externalId } : {}),
    userName: u.userName,
    ...attributes,
    emails:
      Array.isArray(emails) && emails.length > 0
        ? emails
        : [{ value: u.userName, type: 'work', primary: true }],
    active: u.active,
    groups: u.groups.map((g) => ({ value: g.id, display: g.displayName, $ref: `${base}/Groups/${g.id}` })),
    meta: meta(base, 'User', u.id, u.created, u.lastModified),
  };
}

export function groupResource(base: string, g: ScimGroup, withMembers = true): Json {
  return {
    schemas: [URN.group],
    id: g.id,
    ...(g.externalId !== null ? { externalId: g.externalId } : {}),
    displayName: g.displayName,
    ...(withMembers
      ? {
          members: g.members.map((m) => ({
            value: m.id,
            display: m.userName,
            $ref: `${base}/Users/${m.id}`,
          })),
        }
      : {}),
    meta: meta(base, 'Group', g.id, g.created, g.lastModified),
  };
}

/** RFC 7644 §3.4.2 ListResponse. */
export function listResponse(resources: Json[], total: number, startIndex: number): Json {
  return {
    schemas: [URN.list],
    totalResults: total,
    itemsPerPage: resources.length,
    startIndex,
    Resources: resources,
  };
}
