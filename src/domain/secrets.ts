import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  hash,
  randomBytes,
  scrypt,
  timingSafeEqual,
} from 'node:crypto';
import { promisify } from 'node:util';

/** Random bytes come in as an argument (STYLE §6). */
export type Random = (size: number) => Buffer;
export const systemRandom: Random = (size) => randomBytes(size);

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

export function base62(bytes: Buffer): string {
  let n = BigInt(`0x${bytes.toString('hex') || '0'}`);
  let out = '';
  while (n > 0n) {
    out = BASE62[Number(n % 62n)] + out;
    n /= 62n;
  }
  // Keep the length fixed for a given byte count, so prefixes line up.
  const width = Math.ceil((bytes.length * 8) / Math.log2(62));
  return out.padStart(width, '0');
}

export const TOKEN_PREFIX = {
  access: 'wax_at_',
  refresh: 'wax_rt_',
  code: 'wax_ac_',
  secret: 'wax_cs_',
  /** SPEC §10: a SCIM bearer token (`waxseal scim-token create`). */
  scim: 'wax_scim_',
} as const;

/** An opaque bearer secret: a recognisable prefix and 32 random bytes (SPEC §2). */
export function newToken(prefix: string, random: Random = systemRandom): string {
  return prefix + base62(random(32));
}

/**
 * Only this hash of a token, key or client secret is ever stored (SPEC §2).
 * Node's one-shot `hash` (0.6 µs) rather than a Hash object (1.9 µs): every
 * /mcp request hashes its bearer (issue 13).
 */
export function sha256(value: string): string {
  return hash('sha256', value, 'hex');
}

/**
 * Compares two secrets in constant time, whatever their lengths: both sides are
 * hashed first, so neither the position of the first difference nor the length
 * of the expected value shows in the timing. Use it wherever a secret is compared.
 */
export function safeEqual(a: string, b: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
  return timingSafeEqual(digest(a), digest(b));
}

/**
 * API keys must be handed to upstreams and tool handlers (SPEC §3, §9) yet only
 * their hashes may be stored. So a key is derived: HMAC(server secret, key ref),
 * where the ref is random and stored. A database dump alone yields no key.
 */
export function deriveApiKey(secret: Buffer, prefix: string, keyRef: string): string {
  const body = createHmac('sha256', secret).update(`waxseal-api-key:${keyRef}`).digest();
  return prefix + base62(body);
}

/** What SPEC §4 shows of a key: the prefix plus 6 characters. */
export function apiKeyDisplayPrefix(key: string, prefix: string): string {
  return key.slice(0, prefix.length + 6);
}

// Passwords: scrypt (memory-hard), N=2^15, r=8, p=1 → 32 MiB per hash.
const scryptAsync = promisify(scrypt) as (
  password: string,
  salt: Buffer,
  keylen: number,
  options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

export async function hashPassword(password: string, random: Random = systemRandom): Promise<string> {
  const salt = random(16);
  const hash = await scryptAsync(password.normalize('NFKC'), salt, 32, SCRYPT);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = await scryptAsync(password.normalize('NFKC'), Buffer.from(salt, 'base64'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: SCRYPT.maxmem,
  });
  return timingSafeEqual(actual, expected);
}

/** A hash to compare against when the account does not exist, so timing says nothing. */
export const DUMMY_PASSWORD_HASH =
  'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

/** AES-256-GCM under a key derived from the server secret; for TOTP seeds. */
export function seal(
  secret: Buffer,
  purpose: string,
  plaintext: string,
  random: Random = systemRandom,
): string {
  const key = createHmac('sha256', secret).update(`waxseal-seal:${purpose}`).digest();
  const iv = random(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return [iv, cipher.getAuthTag(), body].map((b) => b.toString('base64')).join('.');
}

export function unseal(secret: Buffer, purpose: string, sealed: string): string {
  const [iv, tag, body] = sealed.split('.').map((s) => Buffer.from(s, 'base64'));
  if (!iv || !tag || !body) throw new Error('malformed sealed value');
  const key = createHmac('sha256', secret).update(`waxseal-seal:${purpose}`).digest();
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
}
