/** B7: the raw ceiling, a bare node:http hello-world. */
import { serve } from './serve.js';

serve((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('hello world');
});
