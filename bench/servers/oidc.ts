/**
 * The B3 baseline: oidc-provider serving the refresh_token grant with its
 * in-memory adapter (sized for the run, below), configured like Waxseal: a public client, refresh tokens
 * rotated on every use, opaque access tokens audience-bound to one MCP URL,
 * the same lifetimes. The initial refresh tokens are minted through the
 * provider's own Grant and RefreshToken models and sent to the parent over IPC.
 *
 *   CHAINS=N (how many refresh tokens to mint)
 */
import Provider from 'oidc-provider';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import LRU from 'oidc-provider/lib/helpers/lru.js';

/**
 * oidc-provider's own in-memory adapter, on a store large enough for the run.
 * Its default store is an LRU of 1,000 entries: under 50 concurrent chains it
 * evicts live grants and refresh tokens, and the requests that follow fail
 * (cheaply) with invalid_grant, which would flatter the baseline.
 */
const store = new LRU({ maxSize: 10_000_000 });
const adapter = (model: string) => new MemoryAdapter(model, store);

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const resource = `${issuer}/mcp`;
const DAY = 24 * 60 * 60;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'bench',
      token_endpoint_auth_method: 'none',
      application_type: 'native',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback'],
    },
  ],
  scopes: ['mcp', 'offline_access'],
  findAccount: async (_ctx: unknown, sub: string) => ({ accountId: sub, claims: async () => ({ sub }) }),
  adapter,
  rotateRefreshToken: true,
  ttl: {
    AccessToken: 3600,
    RefreshToken: 30 * DAY,
    Grant: 30 * DAY,
    AuthorizationCode: 600,
    Session: 30 * DAY,
    Interaction: 3600,
    IdToken: 3600,
  },
  features: {
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({ scope: 'mcp', audience: resource, accessTokenFormat: 'opaque' }),
    },
  },
});

const chains = Number(process.env.CHAINS ?? 64);
const client = await provider.Client.find('bench');
const tokens: string[] = [];
for (let i = 0; i < chains; i++) {
  const accountId = `user-${i}`;
  const grant = new provider.Grant({ accountId, clientId: 'bench' });
  grant.addOIDCScope('offline_access');
  grant.addResourceScope(resource, 'mcp');
  const grantId = await grant.save();
  const refresh = new provider.RefreshToken({
    accountId,
    client,
    grantId,
    gty: 'authorization_code',
    scope: 'mcp offline_access',
    resource,
    iiat: Math.floor(Date.now() / 1000),
  });
  tokens.push(await refresh.save());
}

const server = provider.listen(port, '127.0.0.1', () => process.send?.({ clientId: 'bench', tokens }));
server.keepAliveTimeout = 5000;
process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
