/** The one stylesheet of the server-rendered pages, served at /assets/waxseal.css. */
export const STYLESHEET = `:root {
  --ink: #1d2330;
  --muted: #5b6475;
  --line: #dde1e8;
  --bg: #f5f6f8;
  --accent: #9b2c2c;
  --accent-ink: #fff;
  --danger-bg: #fdecec;
  --radius: 10px;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink);
  background: var(--bg);
}
body { margin: 0; min-height: 100vh; display: grid; place-items: center; padding: 16px; box-sizing: border-box; }
.card { background: #fff; border: 1px solid var(--line); border-radius: var(--radius); padding: 32px; width: 100%; max-width: 420px; box-shadow: 0 1px 3px rgb(0 0 0 / 6%); }
.brand { display: flex; align-items: center; gap: 8px; font-weight: 600; margin-bottom: 24px; color: var(--accent); }
.seal { width: 18px; height: 18px; border-radius: 50%; background: var(--accent); display: inline-block; }
h1 { font-size: 1.4rem; margin: 0 0 8px; }
h2 { font-size: 1rem; margin: 20px 0 8px; }
.muted { color: var(--muted); }
.stack { display: grid; gap: 8px; margin-top: 16px; }
label { font-weight: 500; font-size: 0.9rem; }
input { font: inherit; padding: 10px 12px; border: 1px solid var(--line); border-radius: 8px; }
input:focus-visible, button:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
button { font: inherit; padding: 10px 16px; border-radius: 8px; border: 1px solid var(--line); cursor: pointer; }
button.primary { background: var(--accent); color: var(--accent-ink); border-color: var(--accent); margin-top: 8px; }
button.secondary { background: #fff; color: var(--ink); }
.actions { display: flex; justify-content: flex-end; gap: 8px; margin-top: 24px; }
.alert { background: var(--danger-bg); border: 1px solid #f3c2c2; color: #7a1f1f; padding: 10px 12px; border-radius: 8px; }
.scopes { padding-left: 20px; }
code { background: var(--bg); padding: 2px 6px; border-radius: 4px; word-break: break-all; }
`;
