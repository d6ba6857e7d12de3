import type { Services } from '../../src/services/context.js';
import { createScimToken } from '../../src/services/scim-tokens.js';

/** A SCIM client as an IdP's provisioning service is: bearer token, application/scim+json. */
export class ScimClient {
  constructor(
    readonly base: string,
    public token: string,
  ) {}

  async request(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
    const res = await fetch(`${this.base}/scim/v2${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        accept: 'application/scim+json',
        ...(body !== undefined ? { 'content-type': 'application/scim+json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return {
      status: res.status,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
      headers: res.headers,
    };
  }
  get = (path: string) => this.request('GET', path);
  post = (path: string, body: unknown) => this.request('POST', path, body);
  put = (path: string, body: unknown) => this.request('PUT', path, body);
  patch = (path: string, body: unknown) => this.request('PATCH', path, body);
  delete = (path: string) => this.request('DELETE', path);

  /** PATCH with a PatchOp body of these operations. */
  ops = (path: string, ...Operations: unknown[]) =>
    this.patch(path, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations });

  /** The id of the user with this userName, as Entra and Okta find it before creating. */
  async userId(userName: string): Promise<string | undefined> {
    const res = await this.get(`/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}`);
    const found = (res.body.Resources as Array<{ id: string }> | undefined) ?? [];
    return found[0]?.id;
  }
}

/** A SCIM client with a fresh token made as `waxseal scim-token create` makes it. */
export async function scimClient(services: Services, base: string, name?: string): Promise<ScimClient> {
  const { token } = await createScimToken(services, name, 'test');
  return new ScimClient(base, token);
}

export const SCIM_ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
