import express, { Router } from 'express';
import { z } from 'zod';
import { PERMISSIONS, permissionsOf, ROLES } from '../../domain/permissions.js';
import type { Services } from '../../services/context.js';
import {
  activeConnectionCounts,
  createUser,
  disableUser,
  enableUser,
  listUsers,
  setRole,
  type User,
} from '../../services/users.js';
import { type ApiRequest, allowed, authenticated, parse, sameOrigin, signedInUser } from './guards.js';

const NAMES = Object.fromEntries(Object.entries(PERMISSIONS).map(([name, value]) => [value, name]));

const text = (max: number) =>
  z
    .string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string') })
    .max(max, `must be at most ${max} characters`);
const role = z.enum(ROLES, { error: `must be one of ${ROLES.join(', ')}` });
const object = <T extends z.ZodRawShape>(shape: T) =>
  z.object(shape, { error: 'must be a JSON object sent with Content-Type: application/json' });

const newMember = object({ email: text(254), password: text(1024), role });
const roleChange = object({ email: text(254), role });
const byEmail = object({ email: text(254) });

/** A member as the API shows it (SPEC §10 member JSON): the user without anything secret. */
function toMember(u: User, activeConnections: number) {
  return {
    id: u.id,
    email: u.email,
    role: u.role,
    status: u.status,
    source: u.source,
    activeConnections,
    totpEnabled: u.totpEnabled,
    createdAt: u.createdAt,
  };
}

/**
 * The roles of SPEC §5 with each permission's SPEC name and what it maps to, so
 * the members page describes exactly what the server enforces.
 */
function roles() {
  return ROLES.map((name) => ({
    name,
    permissions: permissionsOf(name).map((value) => ({ name: NAMES[value] as string, value })),
  }));
}

/** Members: list users, add one, change a role (SPEC §5 owners manage members). */
export function membersRouter(s: Services): Router {
  const router = Router();
  const json = express.json({ limit: '16kb' });
  const owner = [authenticated(s), allowed(PERMISSIONS.MEMBERS_MANAGE)];

  const member = async (u: User) => toMember(u, (await activeConnectionCounts(s)).get(u.id) ?? 0);

  router.get('/api/members', ...owner, async (_req, res) => {
    const [users, counts] = await Promise.all([listUsers(s), activeConnectionCounts(s)]);
    res.json({ items: users.map((u) => toMember(u, counts.get(u.id) ?? 0)), roles: roles() });
  });

  router.post('/api/members', sameOrigin(s), ...owner, json, async (req: ApiRequest, res) => {
    const input = parse(newMember, req.body);
    const user = await createUser(s, input, signedInUser(req).email);
    res.status(201).json(toMember(user, 0));
  });

  router.post('/api/members/role', sameOrigin(s), ...owner, json, async (req: ApiRequest, res) => {
    const input = parse(roleChange, req.body);
    res.json(await member(await setRole(s, input.email, input.role, signedInUser(req).email)));
  });

  // SPEC §10 Disable / Enable, owners only.
  router.post('/api/members/disable', sameOrigin(s), ...owner, json, async (req: ApiRequest, res) => {
    const input = parse(byEmail, req.body);
    res.json(await member(await disableUser(s, input.email, signedInUser(req).email)));
  });

  router.post('/api/members/enable', sameOrigin(s), ...owner, json, async (req: ApiRequest, res) => {
    const input = parse(byEmail, req.body);
    res.json(await member(await enableUser(s, input.email, signedInUser(req).email)));
  });

  return router;
}
