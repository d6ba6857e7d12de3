/**
 * How the CLI prints (gh's convention): lists are for people and for scripts.
 * On a terminal a list gets a header row and aligned columns; piped, it is
 * plain TSV without a header (what `cut` and `awk` expect), and `--json` gives
 * the full records.
 */

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printTable(headers: readonly string[], rows: readonly (readonly string[])[]): void {
  if (!process.stdout.isTTY) {
    for (const row of rows) process.stdout.write(`${row.join('\t')}\n`);
    return;
  }
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  for (const row of all) {
    const cells = row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)));
    process.stdout.write(`${cells.join('  ')}\n`);
  }
}
