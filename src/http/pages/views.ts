import { alert, esc, field, hidden, html, page, raw } from './html.js';

export interface SigninView {
  next: string;
  error?: string;
  email?: string;
  /** SPEC §10: the IdP's label (OIDC_NAME) when sign-in through it is configured. */
  sso?: string;
  /** LOCAL_SIGNIN: false shows the IdP's button alone. */
  local?: boolean;
}

export function signinPage(opts: SigninView): string {
  const local = opts.local ?? true;
  const sso = opts.sso
    ? html`<form method="post" action="/signin/oidc" class="stack">
${hidden('next', opts.next)}
<button type="submit" class="primary">Sign in with ${opts.sso}</button>
</form>${local ? raw('<p class="muted">or with your email</p>') : raw('')}`
    : raw('');
  const form = local
    ? html`<form method="post" action="/signin" class="stack">
${hidden('next', opts.next)}
${field('Email', 'email', 'email', `autocomplete="username" required${opts.sso ? '' : ' autofocus'} value="${esc(opts.email ?? '')}"`)}
${field('Password', 'password', 'password', 'autocomplete="current-password" required')}
<button type="submit" class="${opts.sso ? 'secondary' : 'primary'}">Sign in</button>
</form>`
    : raw('');
  return page(
    'Sign in',
    html`<h1>Sign in</h1>
<p class="muted">Sign in to Waxseal to continue.</p>
${alert(opts.error)}
${sso}
${form}`,
  );
}

export function totpPage(opts: { challenge: string; error?: string }): string {
  return page(
    'Two-step verification',
    html`<h1>Two-step verification</h1>
<p class="muted">Enter the 6-digit code from your authenticator app.</p>
${alert(opts.error)}
<form method="post" action="/signin/totp" class="stack">
${hidden('challenge', opts.challenge)}
${field('Authentication code', 'code', 'text', 'inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" required autofocus')}
<button type="submit" class="primary">Verify</button>
</form>`,
  );
}

export interface ConsentView {
  clientName: string;
  redirectHost: string;
  email: string;
  scopes: string[];
  requestId: string;
  csrf: string;
}

const SCOPE_TEXT: Record<string, string> = {
  mcp: 'Use the MCP tools, resources and prompts served by Waxseal as you',
  offline_access: 'Stay connected without asking you again, until you or an admin revokes it',
};

export function consentPage(v: ConsentView): string {
  const scopes = v.scopes.map((s) => html`<li>${SCOPE_TEXT[s] ?? s}</li>`);
  return page(
    'Authorize',
    html`<h1>Connect <span class="client">${v.clientName}</span>?</h1>
<p><strong>${v.clientName}</strong> wants to access Waxseal as <strong>${v.email}</strong>.</p>
<p class="muted">After you allow it, you will be sent back to <strong>${v.redirectHost}</strong>.</p>
<h2>It will be able to</h2>
<ul class="scopes">${scopes}</ul>
<form method="post" action="/authorize/decision" class="actions">
${hidden('request', v.requestId)}
${hidden('csrf', v.csrf)}
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
<button type="submit" name="decision" value="allow" class="primary">Allow</button>
</form>`,
  );
}

export function errorPage(title: string, message: string): string {
  return page(title, html`<h1>${title}</h1>${alert(message)}<p class="muted">You can close this window.</p>`);
}

export function setupPage(opts: { token: string; email?: string; error?: string }): string {
  return page(
    'Set up Waxseal',
    html`<h1>Set up Waxseal</h1>
<p class="muted">Create the first owner account. This link works once.</p>
${alert(opts.error)}
<form method="post" action="/setup" class="stack">
${hidden('token', opts.token)}
${field('Email', 'email', 'email', `autocomplete="username" required autofocus value="${esc(opts.email ?? '')}"`)}
${field('Password', 'password', 'password', 'autocomplete="new-password" minlength="8" required')}
<button type="submit" class="primary">Create owner</button>
</form>`,
  );
}

export function homePage(opts: { email: string; role: string; mcpUrl: string }): string {
  return page(
    'Home',
    html`<h1>Waxseal</h1>
<p>Signed in as <strong>${opts.email}</strong> (${opts.role}).</p>
<p>Connect an MCP client to <code>${opts.mcpUrl}</code>.</p>
<p><a href="/settings/mcp-connections">Open the dashboard</a></p>
<form method="post" action="/signout"><button type="submit" class="secondary">Sign out</button></form>`,
  );
}
