/**
 * The design system: one set of tokens and base controls, served at
 * /assets/waxseal.css to the server-rendered pages (sign-in, consent, setup)
 * and to the dashboard, which adds its own layout on top (web/src/styles.css).
 */
export const STYLESHEET = `:root {
  --ink: #1b2230;
  --ink-soft: #323b4c;
  --muted: #5d6677;
  --line: #dfe3ea;
  --line-strong: #c9cfd9;
  --bg: #f4f5f7;
  --surface: #fff;
  --surface-muted: #f8f9fb;
  --brand: #9b2c2c;
  --accent: #24406b;
  --accent-hover: #1b3254;
  --accent-ink: #fff;
  --accent-soft: #e8eef8;
  --ok: #176a3a;
  --ok-bg: #e4f4ea;
  --ok-line: #b9e0c8;
  --danger: #a3211b;
  --danger-hover: #861a15;
  --danger-bg: #fdecec;
  --danger-line: #f3c2c2;
  --radius: 10px;
  --radius-sm: 6px;
  --shadow: 0 1px 2px rgb(16 24 40 / 5%), 0 1px 3px rgb(16 24 40 / 6%);
  --shadow-lg: 0 12px 32px rgb(16 24 40 / 18%);
  --font: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  --mono: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, "Liberation Mono", monospace;
  font-family: var(--font);
  font-size: 15px;
  line-height: 1.5;
  color: var(--ink);
  background: var(--bg);
}
*, *::before, *::after { box-sizing: border-box; }
body { margin: 0; }
body.card-page { min-height: 100vh; display: grid; place-items: center; padding: 16px; }
.card { background: var(--surface); border: 1px solid var(--line); border-radius: var(--radius); padding: 32px; width: 100%; max-width: 420px; box-shadow: var(--shadow); }
.brand { display: flex; align-items: center; gap: 8px; font-weight: 650; letter-spacing: 0.01em; margin-bottom: 24px; color: var(--ink); }
.seal { width: 18px; height: 18px; border-radius: 50%; background: radial-gradient(circle at 35% 35%, #c0504d, var(--brand) 70%); box-shadow: inset 0 0 0 2px rgb(255 255 255 / 25%); display: inline-block; flex: none; }
h1 { font-size: 1.35rem; line-height: 1.3; margin: 0 0 8px; }
h2 { font-size: 1rem; margin: 20px 0 8px; }
p { margin: 0 0 12px; }
a { color: var(--accent); }
.muted { color: var(--muted); }
.stack { display: grid; gap: 8px; margin-top: 16px; }
label { font-weight: 550; font-size: 0.9rem; }
input, select { font: inherit; color: inherit; padding: 9px 12px; border: 1px solid var(--line-strong); border-radius: var(--radius-sm); background: var(--surface); min-height: 40px; }
input::placeholder { color: #8a92a1; }
:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
button { font: inherit; font-weight: 550; padding: 9px 16px; min-height: 40px; border-radius: var(--radius-sm); border: 1px solid var(--line-strong); background: var(--surface); color: var(--ink); cursor: pointer; display: inline-flex; align-items: center; justify-content: center; gap: 8px; }
button:hover { background: var(--surface-muted); }
button:disabled { opacity: 0.6; cursor: not-allowed; }
button.primary { background: var(--accent); color: var(--accent-ink); border-color: var(--accent); }
button.primary:hover { background: var(--accent-hover); }
.stack button.primary { margin-top: 8px; }
button.secondary { background: var(--surface); color: var(--ink); }
button.danger { background: var(--danger); color: #fff; border-color: var(--danger); }
button.danger:hover { background: var(--danger-hover); }
.actions { display: flex; justify-content: flex-end; gap: 8px; margin-top: 24px; }
.alert { background: var(--danger-bg); border: 1px solid var(--danger-line); color: #7a1f1f; padding: 10px 12px; border-radius: var(--radius-sm); }
.scopes { padding-left: 20px; margin: 0; }
.scopes li { margin: 4px 0; }
.client { color: var(--accent); }
.consent-who { background: var(--surface-muted); border: 1px solid var(--line); border-radius: var(--radius-sm); padding: 12px; margin: 16px 0; }
code { font-family: var(--mono); font-size: 0.88em; background: var(--bg); padding: 2px 6px; border-radius: 4px; word-break: break-all; }
.sr-only { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
`;
