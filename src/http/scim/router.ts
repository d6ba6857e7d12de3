import express, { type NextFunction, type Request, type Response, Router } from 'express';
import { invalidFilter, invalidValue, noSuchResource } from '../../domain/scim-errors.js';
import type { Services } from '../../services/context.js';
import {
  createScimGroup,
  deleteScimGroup,
  type GroupQuery,
  getScimGroup,
  listScimGroups,
  updateScimGroup,
} from '../../services/scim-groups.js';
import { verifyScimToken } from '../../services/scim-tokens.js';
import {
  createScimUser,
  deleteScimUser,
  getScimUser,
  listScimUsers,
  type Page,
  type UserQuery,
  updateScimUser,
} from '../../services/scim-users.js';
import { MAX_COUNT, resourceTypes, schemas, serviceProviderConfig } from './discovery.js';
import { SCIM_JSON, ScimUnauthorized, scimErrorRenderer } from './errors.js';
import { type Condition, parseFilter } from './filter.js';
import { operationsOf, patchGroup, patchUser } from './patch.js';
import {
  groupFromBody,
  groupResource,
  type Json,
  listResponse,
  userFromBody,
  userResource,
} from './resources.js';

/** A Group of up to 10,000 members fits; a bigger body is 413. */
const BODY_LIMIT = '1mb';

function send(res: Response, status: number, body: Json): void {
  res.status(status).type(SCIM_JSON).set('Cache-Control', 'no-store').json(body);
}

/** RFC 6750 §2.1 on every SCIM request; the token is compared by its hash (services/scim-tokens.ts). */
function bearer(s: Services) {
  return async (req: Request, _res: Response, next: NextFunction) => {
    const header = req.headers.authorization ?? '';
    const m = /^Bearer +([\x21-\x7e]+) *$/i.exec(header);
    if (!m) return next(new ScimUnauthorized(header !== ''));
    next((await verifyScimToken(s, m[1] as string)) ? undefined : new ScimUnauthorized(true));
  };
}

function queryText(req: Request, name: string): string | undefined {
  const v = req.query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalidValue(`${name}: give it once, as text`);
  return v;
}

/** RFC 7644 §3.4.2.4: startIndex is 1-based (less than 1 means 1), count at most MAX_COUNT. */
function pageOf(req: Request): Page {
  const number = (name: string, fallback: number) => {
    const v = queryText(req, name);
    if (v === undefined || v === '') return fallback;
    if (!/^-?\d{1,9}$/.test(v)) throw invalidValue(`${name}: must be a whole number`);
    return Number(v);
  };
  return {
    startIndex: Math.max(1, number('startIndex', 1)),
    count: Math.min(MAX_COUNT, Math.max(0, number('count', 100))),
  };
}

/** The conditions of ?filter=, each an attribute the resource type can be searched by. */
function conditions<K extends string>(req: Request, allowed: Record<string, K>): Partial<Record<K, string>> {
  const filter = queryText(req, 'filter');
  if (filter === undefined || filter.trim() === '') return {};
  const out: Partial<Record<K, string>> = {};
  for (const c of parseFilter(filter) as Condition[]) {
    const key = allowed[c.attr];
    if (!key) throw invalidFilter(`Filtering on ${c.attr} is not supported`);
    if (typeof c.value !== 'string') throw invalidFilter(`${c.attr} is compared with a string`);
    if (out[key] !== undefined && out[key] !== c.value) throw invalidFilter(`${c.attr} is given twice`);
    out[key] = c.value;
  }
  return out;
}

const USER_FILTERS: Record<string, keyof UserQuery> = {
  username: 'userName',
  externalid: 'externalId',
  id: 'id',
};
const GROUP_FILTERS: Record<string, keyof GroupQuery> = {
  displayname: 'displayName',
  externalid: 'externalId',
  id: 'id',
  'members.value': 'memberId',
};

/** Entra asks for groups with excludedAttributes=members; members are then left out. */
function withMembers(req: Request): boolean {
  const excluded = queryText(req, 'excludedAttributes') ?? '';
  return !excluded
    .split(',')
    .map((a) => a.trim().toLowerCase())
    .includes('members');
}

const id = (req: Request) => String(req.params.id);

/**
 * SPEC §10 SCIM 2.0 at PUBLIC_URL/scim/v2 (RFC 7643, RFC 7644): discovery,
 * Users and Groups. Bodies are JSON as application/scim+json or
 * application/json; every answer, errors included, is application/scim+json.
 */
export function scimRouter(s: Services): Router {
  const router = Router();
  const base = `${s.config.publicUrl}/scim/v2`;
  router.use(bearer(s));
  router.use(express.json({ type: [SCIM_JSON, 'application/json'], limit: BODY_LIMIT }));

  router.get('/ServiceProviderConfig', (_req, res) => send(res, 200, serviceProviderConfig(base)));
  router.get('/ResourceTypes', (_req, res) => {
    const all = resourceTypes(base);
    send(res, 200, listResponse(all, all.length, 1));
  });
  router.get('/ResourceTypes/:id', (req, res) => {
    const found = resourceTypes(base).find((t) => t.id === id(req));
    if (!found) throw noSuchResource(`No ResourceType ${id(req)}`);
    send(res, 200, found);
  });
  router.get('/Schemas', (_req, res) => {
    const all = schemas(base);
    send(res, 200, listResponse(all, all.length, 1));
  });
  router.get('/Schemas/:id', (req, res) => {
    const found = schemas(base).find((t) => t.id === id(req));
    if (!found) throw noSuchResource(`No Schema ${id(req)}`);
    send(res, 200, found);
  });

  router.get('/Users', async (req, res) => {
    const where = conditions(req, USER_FILTERS);
    const page = pageOf(req);
    const { total, items } = await listScimUsers(s, where, page);
    send(
      res,
      200,
      listResponse(
        items.map((u) => userResource(base, u)),
        total,
        page.startIndex,
      ),
    );
  });
  router.post('/Users', async (req, res) => {
    const user = await createScimUser(s, userFromBody(req.body));
    res.set('Location', `${base}/Users/${user.id}`);
    send(res, 201, userResource(base, user));
  });
  router.get('/Users/:id', async (req, res) =>
    send(res, 200, userResource(base, await getScimUser(s, id(req)))),
  );
  router.put('/Users/:id', async (req, res) => {
    const input = userFromBody(req.body);
    send(res, 200, userResource(base, await updateScimUser(s, id(req), () => input)));
  });
  router.patch('/Users/:id', async (req, res) => {
    const ops = operationsOf(req.body);
    send(
      res,
      200,
      userResource(base, await updateScimUser(s, id(req), (current) => patchUser(current, ops))),
    );
  });
  router.delete('/Users/:id', async (req, res) => {
    await deleteScimUser(s, id(req));
    res.status(204).end();
  });

  router.get('/Groups', async (req, res) => {
    const where = conditions(req, GROUP_FILTERS);
    const page = pageOf(req);
    const members = withMembers(req);
    const { total, items } = await listScimGroups(s, where, page);
    send(
      res,
      200,
      listResponse(
        items.map((g) => groupResource(base, g, members)),
        total,
        page.startIndex,
      ),
    );
  });
  router.post('/Groups', async (req, res) => {
    const group = await createScimGroup(s, groupFromBody(req.body));
    res.set('Location', `${base}/Groups/${group.id}`);
    send(res, 201, groupResource(base, group));
  });
  router.get('/Groups/:id', async (req, res) =>
    send(res, 200, groupResource(base, await getScimGroup(s, id(req)), withMembers(req))),
  );
  router.put('/Groups/:id', async (req, res) => {
    const input = groupFromBody(req.body);
    send(res, 200, groupResource(base, await updateScimGroup(s, id(req), () => input)));
  });
  router.patch('/Groups/:id', async (req, res) => {
    const ops = operationsOf(req.body);
    const group = await updateScimGroup(s, id(req), (current) => patchGroup(current, ops));
    send(res, 200, groupResource(base, group, withMembers(req)));
  });
  router.delete('/Groups/:id', async (req, res) => {
    await deleteScimGroup(s, id(req));
    res.status(204).end();
  });

  router.use((req, _res, next) => {
    try {
      decodeURIComponent(req.path);
    } catch (err) {
      return next(err); // a malformed percent-escape: 400, as under the routes with parameters
    }
    next(noSuchResource(`No SCIM endpoint ${req.method} ${req.path}`));
  });
  router.use(scimErrorRenderer(s));
  return router;
}
