/**
 * SPEC §12 micro-benchmark: the CPU that the per-connection policy adds to one
 * /mcp request, i.e. what http/mcp/connection-policy.ts runs (note the last
 * use; take one request from the connection's budget), measured in process
 * against a real SQLite store, with the rate limit off and on.
 *
 *   node --import tsx bench/policy-micro.ts [--requests N] [--connections N]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { systemClock } from '../src/domain/clock.js';
import { LastUsed } from '../src/services/last-used.js';
import { RequestBudgets } from '../src/services/request-budget.js';
import { migrate, openStore } from '../src/store/db.js';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000000' },
    connections: { type: 'string', default: '50' },
  },
});
const requests = Number(values.requests);
const ids = Array.from({ length: Number(values.connections) }, (_, i) => `connection-${i}`);
const dir = mkdtempSync(join(tmpdir(), 'waxseal-policy-'));
const store = openStore(`sqlite:${join(dir, 'bench.db')}`);
await migrate(store);
const log = pino({ level: 'silent' });
const lastUsed = new LastUsed(store, systemClock, log);

async function run(label: string, take: ((id: string) => number | Promise<number>) | null, limit?: number) {
  const queriesBefore = store.queries();
  const cpu = process.cpuUsage();
  for (let i = 0; i < requests; i++) {
    const id = ids[i % ids.length] as string;
    lastUsed.record(id, '203.0.113.7');
    if (take) {
      const r = take(id);
      if (typeof r !== 'number') await r;
    }
  }
  const used = process.cpuUsage(cpu);
  const ns = ((used.user + used.system) * 1000) / requests;
  const claims = store.queries() - queriesBefore;
  console.log(
    `${label}: ${ns.toFixed(0)} ns CPU per request over ${requests.toLocaleString('en-US')} requests` +
      `${limit ? `, limit ${limit}/min, ${claims} claim statements` : ''}`,
  );
}

await run('rate limit off (last used only)', null);
for (const limit of [600, 1_000_000]) {
  const budgets = new RequestBudgets(store, systemClock, log, limit);
  await run('rate limit on', (id) => budgets.take(id), limit);
}
await lastUsed.close();
await store.close();
rmSync(dir, { recursive: true, force: true });
