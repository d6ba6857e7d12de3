import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import type { Client } from '../domain/clients.js';
import { redirectUriProblem } from '../domain/redirect-uris.js';
import type { Services } from './context.js';

/**
 * Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document,
 * MCP authorization 2025-11-25): a client_id that is an https URL names a JSON
 * document describing the client. Fetching it is an SSRF risk, so: https only,
 * no private or loopback addresses (checked on the resolved address, so DNS
 * tricks do not help), no redirects, a size and a time limit.
 */
export class ClientMetadataError extends Error {}

const MAX_BYTES = 64 * 1024;
const TIMEOUT_MS = 5000;
const DEFAULT_TTL_MS = 5 * 60_000;
const MAX_TTL_MS = 24 * 60 * 60_000;
const MAX_CACHED = 1000;

const PRIVATE = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  PRIVATE.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  PRIVATE.addSubnet(net, bits, 'ipv6');
}

export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return PRIVATE.check(mapped[1] as string, 'ipv4');
  const family = isIP(address);
  if (family === 0) return true;
  return PRIVATE.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** Whether a client_id names a metadata document (and so is not a registered id). */
export function isMetadataDocumentUrl(clientId: string): boolean {
  return clientId.startsWith('https://') || clientId.startsWith('http://');
}

function urlProblem(s: Services, clientId: string): string | null {
  if (!URL.canParse(clientId)) return 'is not a URL';
  const url = new URL(clientId);
  const insecureOk = s.config.cimdAllowPrivateHosts && url.protocol === 'http:';
  if (url.protocol !== 'https:' && !insecureOk) return 'must use https';
  if (url.pathname === '/' || url.pathname === '') return 'must have a path';
  if (clientId.includes('#') || url.username || url.password) return 'must have no fragment or credentials';
  if (/\/\.\.?(\/|$)/.test(url.pathname)) return 'must have no dot segments';
  return null;
}

const documentSchema = z.object({
  client_id: z.string(),
  client_name: z.string().max(200).optional(),
  redirect_uris: z.array(z.string()).min(1).max(20),
  token_endpoint_auth_method: z.literal('none').optional(),
  client_secret: z.undefined({ message: 'a metadata document must not contain a client_secret' }).optional(),
});

const cache = new Map<string, { client: Client; expiresAt: number }>();

function ttlFrom(cacheControl: string | undefined): number {
  if (!cacheControl) return DEFAULT_TTL_MS;
  if (/no-store|no-cache/i.test(cacheControl)) return 0;
  const maxAge = /max-age=(\d+)/i.exec(cacheControl);
  return maxAge ? Math.min(Number(maxAge[1]) * 1000, MAX_TTL_MS) : DEFAULT_TTL_MS;
}

/** Resolves a metadata-document client, from the cache when its HTTP lifetime allows. */
export async function clientFromMetadataDocument(s: Services, clientId: string): Promise<Client> {
  const problem = urlProblem(s, clientId);
  if (problem) throw new ClientMetadataError(`The client_id URL ${problem}`);
  const hit = cache.get(clientId);
  if (hit && hit.expiresAt > s.clock.now()) return hit.client;
  const { body, cacheControl } = await fetchDocument(s, new URL(clientId));
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new ClientMetadataError('The client metadata document is not JSON');
  }
  const parsed = documentSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ClientMetadataError(
      `The client metadata document is invalid: ${issue?.path.join('.')} ${issue?.message}`,
    );
  }
  const doc = parsed.data;
  if (doc.client_id !== clientId) {
    throw new ClientMetadataError('The client metadata document names another client_id');
  }
  for (const uri of doc.redirect_uris) {
    const bad = redirectUriProblem(uri);
    if (bad) throw new ClientMetadataError(`The client metadata document's redirect_uri ${bad}`);
  }
  const client: Client = {
    clientId,
    clientName: doc.client_name?.trim() || null,
    redirectUris: doc.redirect_uris,
    authMethod: 'none',
    secretHash: null,
  };
  const ttl = ttlFrom(cacheControl);
  if (ttl > 0) {
    if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value as string);
    cache.set(clientId, { client, expiresAt: s.clock.now() + ttl });
  }
  return client;
}

function fetchDocument(s: Services, url: URL): Promise<{ body: string; cacheControl: string | undefined }> {
  const allowPrivate = s.config.cimdAllowPrivateHosts;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) && !allowPrivate && isPrivateAddress(host)) {
    return Promise.reject(new ClientMetadataError('The client_id URL points at a private address'));
  }
  // Checked on the address actually connected to, so DNS cannot swap it after the check.
  const lookup = (
    hostname: string,
    options: { all?: boolean },
    callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void,
  ) => {
    dnsLookup(hostname, { all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      const usable = addresses.filter((a) => allowPrivate || !isPrivateAddress(a.address));
      const first = usable[0];
      if (!first)
        return callback(new ClientMetadataError('The client_id URL points at a private address'), '');
      if (options.all) return callback(null, usable);
      callback(null, first.address, first.family);
    });
  };
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'GET', headers: { accept: 'application/json' }, lookup, timeout: TIMEOUT_MS },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return reject(
            new ClientMetadataError(`The client metadata document answered HTTP ${res.statusCode}`),
          );
        }
        let size = 0;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BYTES) {
            req.destroy(new ClientMetadataError('The client metadata document is larger than 64 KiB'));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () =>
          resolve({
            body: Buffer.concat(chunks).toString('utf8'),
            cacheControl: res.headers['cache-control'],
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () =>
      req.destroy(new ClientMetadataError('The client metadata document took too long')),
    );
    req.on('error', (err) =>
      reject(
        err instanceof ClientMetadataError
          ? err
          : new ClientMetadataError('The client metadata document could not be fetched'),
      ),
    );
    req.end();
  });
}
