// `npm start` runs what `npm ci` built (the prepare script) instead of rebuilding
// on every start. This check is the fast part of that promise: a missing build
// is a one-line error, a stale one a one-line warning.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const BUILT = { src: 'dist/cli/main.js', web: 'dist/web/index.html' };

const missing = Object.values(BUILT).filter((file) => !existsSync(file));
if (missing.length > 0) {
  console.error(`waxseal: ${missing.join(' and ')} not built yet: run "npm run build" (npm ci runs it too)`);
  process.exit(1);
}

/** The newest modification time of any file under dir. */
function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile())
      latest = Math.max(latest, statSync(join(entry.parentPath ?? entry.path, entry.name)).mtimeMs);
  }
  return latest;
}

const stale = Object.entries(BUILT).filter(([dir, file]) => newest(dir) > statSync(file).mtimeMs);
if (stale.length > 0) {
  const dirs = stale.map(([dir]) => `${dir}/`).join(' and ');
  console.error(`waxseal: ${dirs} changed since the last build; run "npm run build" to serve the changes`);
}
