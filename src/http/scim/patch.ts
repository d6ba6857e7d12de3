import { invalidPath, invalidSyntax, invalidValue, ScimError } from '../../domain/scim-errors.js';
import type { ScimGroup, ScimGroupInput } from '../../services/scim-groups.js';
import type { ScimUser, ScimUserInput } from '../../services/scim-users.js';
import { type Condition, type Path, parsePath } from './filter.js';
import {
  canonical,
  field,
  isObject,
  type Json,
  memberIds,
  NAME_PARTS,
  requireObject,
  toBoolean,
  toEmail,
  toEmails,
  toName,
  toNullableText,
  toText,
  USER_STRINGS,
} from './resources.js';

/**
 * RFC 7644 §3.5.2 PATCH, in the shapes Entra ID and Okta send: `op` in any
 * case (Entra: "Replace", "Add", "Remove"), booleans as strings ("False"),
 * operations without a path whose value is an object of attributes (Okta's
 * `{"op":"replace","value":{"active":false}}`, Entra's dotted keys such as
 * "name.givenName"), value paths (`emails[type eq "work"].value`,
 * `members[value eq "id"]`). Attributes Waxseal does not keep are ignored.
 */

export type Op = 'add' | 'replace' | 'remove';

export interface Operation {
  op: Op;
  path?: Path;
  value: unknown;
}

const MAX_OPERATIONS = 1000;

/** The Operations of a PatchOp body; a malformed one is 400 invalidSyntax, a bad path 400 invalidPath. */
export function operationsOf(body: unknown): Operation[] {
  const b = requireObject(body);
  const ops = field(b, 'Operations');
  if (!Array.isArray(ops) || ops.length === 0) {
    throw invalidSyntax('A PatchOp needs "Operations": a non-empty array');
  }
  if (ops.length > MAX_OPERATIONS) throw invalidSyntax(`At most ${MAX_OPERATIONS} operations at once`);
  return ops.map((raw, i) => {
    if (!isObject(raw)) throw invalidSyntax(`Operations[${i}] must be an object`);
    const op = field(raw, 'op');
    const lower = typeof op === 'string' ? op.toLowerCase() : '';
    if (lower !== 'add' && lower !== 'replace' && lower !== 'remove') {
      throw invalidSyntax(`Operations[${i}].op must be add, replace or remove`);
    }
    const path = field(raw, 'path');
    if (path !== undefined && path !== null && typeof path !== 'string') {
      throw invalidPath(`Operations[${i}].path must be a string`);
    }
    const value = field(raw, 'value');
    if (lower !== 'remove' && value === undefined) throw invalidValue(`Operations[${i}] needs a value`);
    if (!path && lower === 'remove') throw new ScimError(400, 'noTarget', 'A remove operation needs a path');
    if (!path && !isObject(value)) {
      throw invalidValue(`Operations[${i}]: without a path, the value must be an object of attributes`);
    }
    return { op: lower, ...(path ? { path: parsePath(path) } : {}), value };
  });
}

/** Without a path, each key of the value object is a path of its own (RFC 7644 §3.5.2.1, .3). */
function expand(op: Operation): Array<{ op: Op; path: Path; value: unknown }> {
  if (op.path) return [{ op: op.op, path: op.path, value: op.value }];
  const out: Array<{ op: Op; path: Path; value: unknown }> = [];
  for (const [key, value] of Object.entries(op.value as Json)) {
    try {
      out.push({ op: op.op, path: parsePath(key), value });
    } catch {
      // A key that is no attribute path is an attribute Waxseal does not know: ignored.
    }
  }
  return out;
}

const matches = (entry: Json, c: Condition) => {
  const v = field(entry, c.attr);
  return typeof v === 'string' && typeof c.value === 'string'
    ? v.toLowerCase() === c.value.toLowerCase()
    : v === c.value;
};

function patchEmails(current: Json[], op: Op, path: Path, value: unknown): Json[] | undefined {
  if (!path.filter) {
    if (op === 'remove') return undefined;
    if (path.sub)
      throw invalidPath('emails.<sub-attribute> needs a value filter, e.g. emails[type eq "work"].value');
    const given = toEmails(value);
    return op === 'add' ? [...current, ...given] : given;
  }
  const filter = path.filter;
  const hit = current.filter((e) => matches(e, filter));
  if (op === 'remove') {
    if (!path.sub) return current.filter((e) => !matches(e, filter));
    return current.map((e) => {
      if (!hit.includes(e)) return e;
      const { [path.sub as string]: _gone, ...rest } = e;
      return rest;
    });
  }
  const patch = path.sub ? toEmail({ [path.sub]: value }) : toEmail(value);
  if (hit.length === 0) {
    // Entra's `emails[type eq "work"].value` on a user without one adds it (RFC 7644 §3.5.2.1).
    const seed = typeof filter.value === 'string' ? { [filter.attr]: filter.value } : {};
    return [...current, { ...seed, ...patch }];
  }
  return current.map((e) => (hit.includes(e) ? { ...e, ...patch } : e));
}

function applyToUser(user: ScimUserInput, op: Op, path: Path, value: unknown): void {
  if (!path.core) return; // an extension schema's attribute: not kept
  const attrs = user.attributes;
  const text = canonical(USER_STRINGS, path.attr);
  switch (true) {
    case path.attr === 'active':
      if (op !== 'remove') user.active = toBoolean(value, 'active');
      return;
    case path.attr === 'username':
      if (op === 'remove') throw invalidValue('userName: is required and cannot be removed');
      user.userName = toText(value, 'userName', 254);
      return;
    case path.attr === 'externalid':
      user.externalId = op === 'remove' ? null : toNullableText(value, 'externalId');
      return;
    case text !== undefined: {
      const key = text as string;
      if (op === 'remove' || value === null) delete attrs[key];
      else attrs[key] = toText(value, key);
      return;
    }
    case path.attr === 'name': {
      const name = isObject(attrs.name) ? attrs.name : {};
      if (path.sub) {
        const part = canonical(NAME_PARTS, path.sub);
        if (!part) return;
        const next = { ...name };
        if (op === 'remove' || value === null) delete next[part];
        else next[part] = toText(value, `name.${part}`);
        attrs.name = next;
      } else if (op === 'remove') {
        delete attrs.name;
      } else {
        attrs.name = toName(value, op === 'replace' ? {} : name);
      }
      return;
    }
    case path.attr === 'emails': {
      const emails = Array.isArray(attrs.emails) ? (attrs.emails as Json[]) : [];
      const next = patchEmails(emails, op, path, value);
      if (next === undefined || next.length === 0) delete attrs.emails;
      else attrs.emails = next;
      return;
    }
    default:
      // groups is read-only on a User (RFC 7643 §4.1.2); anything else is not kept.
      return;
  }
}

/** The user a PatchOp body makes of `current`, or a 400 naming what is wrong. */
export function patchUser(current: ScimUser, operations: Operation[]): ScimUserInput {
  const next: ScimUserInput = {
    userName: current.userName,
    active: current.active,
    externalId: current.externalId,
    attributes: structuredClone(current.attributes),
  };
  for (const op of operations) for (const one of expand(op)) applyToUser(next, one.op, one.path, one.value);
  return next;
}

function applyToGroup(group: ScimGroupInput, op: Op, path: Path, value: unknown): void {
  if (!path.core) return;
  switch (path.attr) {
    case 'displayname':
      if (op === 'remove') throw invalidValue('displayName: is required and cannot be removed');
      group.displayName = toText(value, 'displayName', 256);
      return;
    case 'externalid':
      group.externalId = op === 'remove' ? null : toNullableText(value, 'externalId');
      return;
    case 'members': {
      if (path.sub && !path.filter) throw invalidPath('members has no sub-attribute to change');
      if (path.filter) {
        // Okta: {"op":"remove","path":"members[value eq \"<id>\"]"}
        if (path.filter.attr !== 'value' || typeof path.filter.value !== 'string') {
          throw invalidPath('members can be filtered by value eq "<User id>" only');
        }
        if (op !== 'remove') throw invalidPath('members[value eq …] can only be removed');
        const gone = path.filter.value;
        group.memberIds = group.memberIds.filter((id) => id !== gone);
        return;
      }
      if (op === 'remove') {
        // Entra: {"op":"Remove","path":"members","value":[{"value":"<id>"}]}; no value: every member.
        if (value === undefined || value === null) group.memberIds = [];
        else {
          const gone = new Set(memberIds(value));
          group.memberIds = group.memberIds.filter((id) => !gone.has(id));
        }
        return;
      }
      const given = value === null ? [] : memberIds(value);
      group.memberIds = op === 'add' ? [...new Set([...group.memberIds, ...given])] : [...new Set(given)];
      return;
    }
    default:
      // id, schemas, meta and anything unknown: not changed by PATCH.
      return;
  }
}

/** The group a PatchOp body makes of `current`. */
export function patchGroup(current: ScimGroup, operations: Operation[]): ScimGroupInput {
  const next: ScimGroupInput = {
    displayName: current.displayName,
    externalId: current.externalId,
    memberIds: current.members.map((m) => m.id),
  };
  for (const op of operations) for (const one of expand(op)) applyToGroup(next, one.op, one.path, one.value);
  return next;
}
