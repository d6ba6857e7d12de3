// A webhook receiver as a SIEM's collector would be: a separate process that
// appends every request it gets (headers and the exact body) to a file, one JSON
// line each, written before it answers. Started and stopped by webhook.ts.
// With a third argument n, the first n requests are answered 503 (and recorded as such).
// Usage: node webhook-receiver.mjs <port> <file> [n]
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:http';

const [port, file, refuse = '0'] = process.argv.slice(2);
let refused = 0;
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    const status = refused < Number(refuse) ? 503 : 200;
    if (status !== 200) refused++;
    const line = { at: Date.now(), status, method: req.method, url: req.url, headers: req.headers, body };
    appendFileSync(file, `${JSON.stringify(line)}\n`);
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(status === 200 ? 'ok' : 'busy');
  });
});
server.listen(Number(port), '127.0.0.1', () => process.stdout.write('listening\n'));
