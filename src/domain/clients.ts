/** RFC 7591 §2 token_endpoint_auth_method values Waxseal supports (SPEC §2). */
export const AUTH_METHODS = ['none', 'client_secret_post', 'client_secret_basic'] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];

/** A registered OAuth client: from dynamic registration or a Client ID Metadata Document. */
export interface Client {
  clientId: string;
  clientName: string | null;
  redirectUris: string[];
  authMethod: AuthMethod;
  secretHash: string | null;
}
