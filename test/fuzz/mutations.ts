import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import type { RawRequest } from './raw-http.js';
import { encode, type Seed } from './targets.js';

/** One change to a well-formed request; a request gets none to several. */
export type Mutation =
  | { kind: 'method'; method: string }
  | { kind: 'query'; key: string; value: string }
  | { kind: 'targetBytes'; bytes: Uint8Array }
  | { kind: 'dropHeader'; index: number }
  | { kind: 'header'; name: string; value: string }
  | { kind: 'headerBytes'; name: string; bytes: Uint8Array }
  | { kind: 'contentType'; value: string }
  | { kind: 'encoding'; value: string; compress: boolean }
  | { kind: 'field'; key: string; value: unknown }
  | { kind: 'duplicate' }
  | { kind: 'jsonBody'; value: unknown }
  | { kind: 'bytesBody'; bytes: Uint8Array }
  | { kind: 'flip'; at: number[]; bytes: number[] }
  | { kind: 'truncate'; keep: number }
  | { kind: 'deep'; depth: number; shape: 'array' | 'object' }
  | { kind: 'huge'; size: number; shape: 'string' | 'array' | 'keys' }
  | { kind: 'chunked' };

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND', 'FOO'];
const CONTENT_TYPES = [
  'application/json',
  'application/x-www-form-urlencoded',
  'text/plain',
  'multipart/form-data; boundary=x',
  'multipart/form-data',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'application/x-www-form-urlencoded; charset=bogus',
  'application/json; charset=utf-8; x=',
  'application/*',
  '*/*',
  '',
  ';;;',
  'application/jsonx',
  'application/merge-patch+json',
];
const ENCODINGS = ['gzip', 'deflate', 'br', 'identity', 'compress', 'gzip, gzip', 'x-bogus', ''];
const HEADER_NAMES = [
  'authorization',
  'cookie',
  'origin',
  'sec-fetch-site',
  'accept',
  'content-length',
  'mcp-protocol-version',
  'mcp-session-id',
  'x-forwarded-for',
  'expect',
  'range',
  'if-none-match',
  'last-event-id',
  'accept-encoding',
];

const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    '',
    ' ',
    '%',
    '%ZZ',
    '\u0000',
    '\uD800',
    '../../etc/passwd',
    'null',
    '[]',
    '{}',
    'Bearer',
    'Basic ::',
  ),
);
const bytes = (max: number) => fc.uint8Array({ maxLength: max });

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('method' as const), method: fc.constantFrom(...METHODS) }),
  fc.record({ kind: fc.constant('query' as const), key: text, value: text }),
  fc.record({ kind: fc.constant('targetBytes' as const), bytes: bytes(30) }),
  fc.record({ kind: fc.constant('dropHeader' as const), index: fc.nat(8) }),
  fc.record({
    kind: fc.constant('header' as const),
    name: fc.constantFrom(...HEADER_NAMES),
    value: fc.oneof(
      text,
      fc.constantFrom(
        'Bearer wax_at_x',
        'Bearer ',
        'Basic',
        'Basic !!!',
        `Basic ${Buffer.from('a:b').toString('base64')}`,
        `Basic ${Buffer.from('%zz:%zz').toString('base64')}`,
        'https://evil.example',
        'null',
        'cross-site',
        'waxseal_session=%E0%A4%A',
        '100-continue',
        '-1',
        '99999999999',
      ),
    ),
  }),
  fc.record({
    kind: fc.constant('headerBytes' as const),
    name: fc.constantFrom(...HEADER_NAMES),
    bytes: bytes(30),
  }),
  fc.record({ kind: fc.constant('contentType' as const), value: fc.constantFrom(...CONTENT_TYPES) }),
  fc.record({
    kind: fc.constant('encoding' as const),
    value: fc.constantFrom(...ENCODINGS),
    compress: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('field' as const),
    key: fc.oneof(
      fc.constantFrom(
        'redirect_uris',
        'client_name',
        'token_endpoint_auth_method',
        'grant_types',
        'grant_type',
        'code',
        'code_verifier',
        'refresh_token',
        'client_id',
        'client_secret',
        'resource',
        'scope',
        'token',
        'email',
        'password',
        'role',
        'next',
        'request',
        'csrf',
        'decision',
        'challenge',
        'jsonrpc',
        'method',
        'params',
        'id',
        'status',
        'limit',
        'cursor',
        'q',
        'connectionId',
        '__proto__',
        'constructor',
      ),
      text,
    ),
    value: fc.oneof(fc.jsonValue({ maxDepth: 3 }), text),
  }),
  fc.record({ kind: fc.constant('duplicate' as const) }),
  fc.record({ kind: fc.constant('jsonBody' as const), value: fc.jsonValue({ maxDepth: 4 }) }),
  fc.record({ kind: fc.constant('bytesBody' as const), bytes: bytes(200) }),
  fc.record({
    kind: fc.constant('flip' as const),
    at: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
    bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 4 }),
  }),
  fc.record({ kind: fc.constant('truncate' as const), keep: fc.nat() }),
  fc.record({
    kind: fc.constant('deep' as const),
    depth: fc.integer({ min: 50, max: 40_000 }),
    shape: fc.constantFrom('array' as const, 'object' as const),
  }),
  fc.record({
    kind: fc.constant('huge' as const),
    // Mostly just over the small routes' limits (16-64 kB); now and then over /mcp's 1 MB.
    size: fc.oneof(
      { weight: 5, arbitrary: fc.integer({ min: 10_000, max: 120_000 }) },
      { weight: 1, arbitrary: fc.integer({ min: 1_000_000, max: 1_200_000 }) },
    ),
    shape: fc.constantFrom('string' as const, 'array' as const, 'keys' as const),
  }),
  fc.record({ kind: fc.constant('chunked' as const) }),
);

/** Percent-encodes the UTF-8 bytes (lone surrogates become U+FFFD) but leaves '%' raw, so '%ZZ' stays broken. */
function percent(value: string): string {
  let out = '';
  for (const b of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9\-._~%]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function deep(depth: number, shape: 'array' | 'object'): string {
  return shape === 'array'
    ? `${'['.repeat(depth)}1${']'.repeat(depth)}`
    : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

function huge(size: number, shape: 'string' | 'array' | 'keys'): string {
  if (shape === 'string')
    return JSON.stringify({ redirect_uris: ['x'.repeat(size)], jsonrpc: 'x'.repeat(size) });
  if (shape === 'array') return `[${'1,'.repeat(size / 2)}1]`;
  const keys: string[] = [];
  for (let n = 0, len = 0; len < size; n++) {
    const k = `"k${n}":${n}`;
    keys.push(k);
    len += k.length + 1;
  }
  return `{${keys.join(',')}}`;
}

/** Applies the structural mutations to the seed, then the byte-level ones to its encoding. */
export function mutate(seed: Seed, mutations: Mutation[]): RawRequest {
  const s: Seed = structuredClone(seed);
  for (const m of mutations) {
    if (m.kind === 'field' && s.body) {
      if (s.body.type === 'json' && typeof s.body.value === 'object' && s.body.value !== null) {
        (s.body.value as Record<string, unknown>)[m.key] = m.value;
      } else if (s.body.type === 'form') {
        s.body.value[m.key] = typeof m.value === 'string' ? m.value : JSON.stringify(m.value);
      }
    } else if (m.kind === 'field' && s.query) {
      s.query[m.key] = typeof m.value === 'string' ? m.value : JSON.stringify(m.value);
    }
  }
  const req = encode(s);
  let target = Buffer.from(req.target);
  for (const m of mutations) {
    switch (m.kind) {
      case 'method':
        req.method = m.method;
        break;
      case 'query':
        target = Buffer.concat([
          target,
          Buffer.from(target.includes('?') ? '&' : '?'),
          Buffer.from(`${percent(m.key)}=${percent(m.value)}`),
        ]);
        break;
      case 'targetBytes':
        target = Buffer.concat([target, Buffer.from(m.bytes).filter((b) => b > 0x20 && b !== 0x7f)]);
        break;
      case 'dropHeader':
        if (req.headers.length) req.headers.splice(m.index % req.headers.length, 1);
        break;
      case 'header':
        req.headers = req.headers.filter(([n]) => n !== m.name);
        if (m.name === 'content-length') break; // framing is the sender's; a lie would only hang the socket
        req.headers.push([m.name, m.value.replace(/[\r\n]/g, ' ')]);
        break;
      case 'headerBytes':
        if (m.name === 'content-length') break;
        req.headers.push([m.name, Buffer.from(m.bytes.filter((b) => b !== 0x0d && b !== 0x0a))]);
        break;
      case 'contentType':
        req.headers = req.headers.filter(([n]) => n !== 'content-type');
        req.headers.push(['content-type', m.value]);
        break;
      case 'encoding':
        req.headers = req.headers.filter(([n]) => n !== 'content-encoding');
        req.headers.push(['content-encoding', m.value]);
        if (m.compress && m.value === 'gzip') req.body = gzipSync(req.body);
        if (m.compress && m.value === 'deflate') req.body = deflateSync(req.body);
        if (m.compress && m.value === 'br') req.body = brotliCompressSync(req.body);
        break;
      case 'duplicate':
        req.body = Buffer.concat([req.body, Buffer.from('&'), req.body]);
        target = Buffer.concat([
          target,
          Buffer.from('&'),
          Buffer.from(target.subarray(target.indexOf('?') + 1)),
        ]);
        break;
      case 'jsonBody':
        req.body = Buffer.from(JSON.stringify(m.value) ?? 'null');
        break;
      case 'bytesBody':
        req.body = Buffer.from(m.bytes);
        break;
      case 'flip':
        if (req.body.length) {
          req.body = Buffer.from(req.body);
          m.at.forEach((at, n) => {
            req.body[at % req.body.length] = m.bytes[n % m.bytes.length] as number;
          });
        }
        break;
      case 'truncate':
        req.body = req.body.subarray(0, m.keep % (req.body.length + 1));
        break;
      case 'deep':
        req.body = Buffer.from(deep(m.depth, m.shape));
        break;
      case 'huge':
        req.body = Buffer.from(huge(m.size, m.shape));
        break;
      case 'chunked':
        req.chunked = true;
        break;
      default:
        break;
    }
  }
  req.target = target;
  return req;
}

/** A short description of a request for a failure message. */
export function describeRequest(name: string, req: RawRequest, mutations: Mutation[]): string {
  const muts = mutations.map((m) =>
    JSON.stringify(m, (_k, v) =>
      v instanceof Uint8Array
        ? `bytes(${v.length})`
        : typeof v === 'string' && v.length > 80
          ? `${v.slice(0, 80)}…`
          : v,
    ),
  );
  return `${name}: ${req.method} ${Buffer.from(req.target).toString('latin1').slice(0, 200)} body ${req.body.length} B; mutations ${muts.join(' ')}`;
}
