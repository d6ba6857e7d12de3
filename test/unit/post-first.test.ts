import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import express, {
  type ErrorRequestHandler,
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
  Router,
} from 'express';
import type { McpPost } from '../../src/http/mcp/endpoint.js';
import { dispatchFirst, mcpPostFirst } from '../../src/http/mcp/post-first.js';

/**
 * http/mcp/post-first.ts runs POST /mcp's handlers without express's router
 * (issue 13). Whatever a handler does — answer, throw, reject (even with a
 * falsy value), call next(), next(false), next('route') — the client must get
 * what the router would have given it, and no handler may run twice.
 */
type Step = (req: Request, res: Response, next: NextFunction) => unknown;

const trace = (req: Request): string[] => {
  const r = req as Request & { steps?: string[] };
  r.steps ??= [];
  return r.steps;
};

/** What each handler does in a case (the `x-case` header); by default it calls next(). */
const BEHAVIOUR: Record<string, Record<string, Step>> = {
  ok: {},
  'check throws': { second: () => Promise.reject(new Error('refused by a check')) },
  'check throws synchronously': {
    first: () => {
      throw new Error('thrown by a check');
    },
  },
  'check rejects with nothing': { second: () => Promise.reject(undefined) },
  "check calls next('route')": { first: (_q, _s, next) => next('route') },
  'check calls next(false)': { first: (_q, _s, next) => next(false) },
  'serve calls next()': { serve: (_q, _s, next) => next() },
  "serve calls next('route')": { serve: (_q, _s, next) => next('route') },
  'serve throws': { serve: () => Promise.reject(new Error('bad body')) },
  'serve rejects with false': { serve: () => Promise.reject(false) },
  'the error handler passes it on': { serve: () => Promise.reject(new Error('pass')) },
};

function step(name: string): RequestHandler {
  return (req, res, next) => {
    trace(req).push(name);
    const own = BEHAVIOUR[String(req.headers['x-case'])]?.[name];
    if (own) return own(req, res, next);
    if (name === 'serve') {
      res.json({ answered: trace(req) });
      return;
    }
    next();
  };
}

function post(): McpPost {
  const onError: ErrorRequestHandler = (err, req, res, next) => {
    trace(req).push('onError');
    if ((err as Error).message === 'pass') return next(err);
    res.status(400).json({ jsonrpc: (err as Error).message, steps: trace(req) });
  };
  const fallThrough: RequestHandler = (req, res) => {
    res.status(405).json({ notAllowed: trace(req) });
  };
  return { checks: [step('first'), step('second')], handlers: [step('serve')], onError, fallThrough };
}

type Mode = 'router' | 'first' | 'dispatched';

/**
 * An app whose /mcp is express's router only (`router`), or is served first by
 * mcpPostFirst (the router behind it), as the app's first layer (`first`) or
 * before express's dispatch as well (`dispatched`, as http/app.ts has it).
 */
function app(mode: Mode) {
  const p = post();
  const a = express();
  const first = mcpPostFirst([], p);
  if (mode !== 'router') a.use(first);
  const router = Router();
  router.all('/mcp', ...p.checks);
  router.post('/mcp', ...p.handlers, p.onError);
  router.all('/mcp', p.fallThrough);
  a.use(router);
  a.use((req, res) => {
    res.status(404).json({ notFound: trace(req) });
  });
  a.use(((err, req, res, _next) => {
    res.status(500).json({ error: (err as Error).message, steps: trace(req) });
  }) as ErrorRequestHandler);
  if (mode === 'dispatched') dispatchFirst(a, first);
  return a;
}

describe('POST /mcp served before the router', () => {
  const servers: ReturnType<ReturnType<typeof express>['listen']>[] = [];
  const bases: Record<Mode, string> = { router: '', first: '', dispatched: '' };
  before(async () => {
    for (const key of ['router', 'first', 'dispatched'] as const) {
      const server = app(key).listen(0, '127.0.0.1');
      await new Promise((resolve) => server.once('listening', resolve));
      servers.push(server);
      bases[key] = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    }
  });
  after(() => {
    for (const s of servers) s.close();
  });

  const call = async (base: string, c: string) => {
    const res = await fetch(`${base}/mcp`, { method: 'POST', headers: { 'x-case': c } });
    return { status: res.status, body: await res.json() };
  };

  test('each case is answered as the router answers it, each handler run once', async () => {
    for (const c of Object.keys(BEHAVIOUR)) {
      const expected = await call(bases.router, c);
      assert.deepEqual(await call(bases.first, c), expected, c);
      assert.deepEqual(await call(bases.dispatched, c), expected, `${c}, before express's dispatch`);
    }
  });

  test('the answers are the ones the cases mean', async () => {
    assert.deepEqual(await call(bases.first, 'ok'), {
      status: 200,
      body: { answered: ['first', 'second', 'serve'] },
    });
    assert.deepEqual(await call(bases.first, 'check throws'), {
      status: 500,
      body: { error: 'refused by a check', steps: ['first', 'second'] },
    });
    assert.deepEqual(await call(bases.first, 'check rejects with nothing'), {
      status: 500,
      body: { error: 'Rejected promise', steps: ['first', 'second'] },
    });
    assert.deepEqual(await call(bases.first, "check calls next('route')"), {
      status: 200,
      body: { answered: ['first', 'serve'] },
    });
    assert.deepEqual(await call(bases.first, 'serve calls next()'), {
      status: 405,
      body: { notAllowed: ['first', 'second', 'serve'] },
    });
    assert.deepEqual(await call(bases.first, 'serve rejects with false'), {
      status: 400,
      body: { jsonrpc: 'Rejected promise', steps: ['first', 'second', 'serve', 'onError'] },
    });
    assert.deepEqual(await call(bases.first, 'the error handler passes it on'), {
      status: 500,
      body: { error: 'pass', steps: ['first', 'second', 'serve', 'onError'] },
    });
  });

  test("other requests are express's own, answered as before", async () => {
    for (const [method, path] of [
      ['GET', '/mcp'],
      ['POST', '/other'],
      ['POST', '/MCP'],
      ['POST', '/mcp/'],
      ['POST', '/mcp?x=1'],
      ['PUT', '/mcp'],
    ]) {
      const answers = [];
      for (const base of [bases.router, bases.dispatched]) {
        const res = await fetch(`${base}${path}`, { method, headers: { 'x-case': 'ok' } });
        answers.push({ status: res.status, body: await res.json() });
      }
      assert.deepEqual(answers[1], answers[0], `${method} ${path}`);
    }
  });
});
