/**
 * Waxseal is measured as it is deployed: compiled JavaScript (`npm start` runs
 * dist/), not through the tsx loader, whose own thread and caches add some
 * 55 MB of RSS and would distort B6. Each checkout's src/ is compiled once into
 * node_modules/.cache/waxseal-bench/<name>/ and reused while no source changed.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;
const CACHE = join(ROOT, 'node_modules/.cache/waxseal-bench');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile())
      newest = Math.max(newest, statSync(join(entry.parentPath ?? entry.path, entry.name)).mtimeMs);
  }
  return newest;
}

/** The compiled `waxseal` CLI entry point of `checkout` (this one by default). */
export function compiledCli(checkout = ROOT): string {
  // Named after the checkout's path too: worktrees may share one node_modules (a symlink).
  const tag = createHash('sha256').update(checkout).digest('hex').slice(0, 8);
  const out = join(CACHE, `${checkout === ROOT ? 'current' : basename(checkout)}-${tag}`);
  const stamp = join(out, '.built');
  const entry = join(out, 'cli/main.js');
  if (existsSync(stamp) && statSync(stamp).mtimeMs >= newestMtime(join(checkout, 'src'))) return entry;
  mkdirSync(out, { recursive: true });
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  // Type checking is `npm run lint`'s job; here only the JavaScript is needed.
  execFileSync(
    process.execPath,
    [
      tsc,
      '-p',
      join(checkout, 'tsconfig.build.json'),
      '--outDir',
      out,
      '--noCheck',
      '--declaration',
      'false',
      '--sourceMap',
      'false',
    ],
    { stdio: 'inherit' },
  );
  // node_modules/ is not a package scope: say that these files are ES modules.
  writeFileSync(join(out, 'package.json'), '{ "type": "module" }\n');
  writeFileSync(stamp, new Date().toISOString());
  return entry;
}
