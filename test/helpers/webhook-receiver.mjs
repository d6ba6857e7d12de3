// A webhook receiver as a SIEM's collector would be: a separate process that
// appends every request it gets (headers and the exact body) to a file, one JSON
// line each, written before it answers 200. Started and stopped by webhook.ts.
// Usage: node webhook-receiver.mjs <port> <file>
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:http';

const [port, file] = process.argv.slice(2);
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    appendFileSync(
      file,
      `${JSON.stringify({ at: Date.now(), method: req.method, url: req.url, headers: req.headers, body })}\n`,
    );
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
  });
});
server.listen(Number(port), '127.0.0.1', () => process.stdout.write('listening\n'));
