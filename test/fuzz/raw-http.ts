import { connect } from 'node:net';

/** One HTTP/1.1 request exactly as given: any method, header bytes and body bytes. */
export interface RawRequest {
  method: string;
  /** The request target, sent as-is (may hold bytes a URL parser would refuse). */
  target: string | Buffer;
  headers: [string, string | Buffer][];
  body: Buffer;
  /** Send the body with Transfer-Encoding: chunked instead of Content-Length. */
  chunked?: boolean;
}

export interface RawResponse {
  /** The status code, or null when the connection closed without a status line. */
  status: number | null;
  head: string;
}

/**
 * Sends a request over a fresh TCP connection (Connection: close) and reads the
 * status line. node:http and fetch would refuse to send much of what a fuzzer
 * needs to (invalid UTF-8, malformed headers), so this writes the bytes itself.
 */
export function sendRaw(port: number, req: RawRequest, timeoutMs = 15_000): Promise<RawResponse> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    const chunks: Buffer[] = [];
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      let text = Buffer.concat(chunks).toString('latin1');
      // Skip interim 1xx answers (100 Continue to an Expect header): the final status counts.
      for (;;) {
        const interim = /^HTTP\/1\.[01] 1\d\d[^\r]*\r\n(?:[^\r]+\r\n)*\r\n/.exec(text);
        if (!interim) break;
        text = text.slice(interim[0].length);
      }
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : null, head: text.slice(0, text.indexOf('\r\n\r\n') + 1 || 2000) });
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      // The status line is all we need; stop reading large bodies early, and streams
      // (GET /mcp, SPEC §11) at once: they stay open.
      const received = Buffer.concat(chunks);
      const headEnd = received.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      if (/\r\ncontent-type: text\/event-stream/i.test(received.subarray(0, headEnd).toString('latin1')))
        finish();
      else if (received.length > 64 * 1024) finish();
    });
    socket.on('end', finish);
    socket.on('close', finish);
    socket.on('error', finish);
    socket.on('connect', () => {
      const head: Buffer[] = [
        Buffer.concat([Buffer.from(`${req.method} `), Buffer.from(req.target), Buffer.from(' HTTP/1.1\r\n')]),
      ];
      head.push(Buffer.from(`host: 127.0.0.1:${port}\r\nconnection: close\r\n`));
      for (const [name, value] of req.headers)
        head.push(Buffer.concat([Buffer.from(`${name}: `), Buffer.from(value), Buffer.from('\r\n')]));
      const pieces: Buffer[] = [];
      if (req.chunked) {
        head.push(Buffer.from('transfer-encoding: chunked\r\n\r\n'));
        const size = Math.max(1, Math.min(16 * 1024, Math.ceil(req.body.length / 3)));
        for (let i = 0; i < req.body.length; i += size) {
          const part = req.body.subarray(i, i + size);
          pieces.push(
            Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')]),
          );
        }
        pieces.push(Buffer.from('0\r\n\r\n'));
      } else {
        head.push(Buffer.from(`content-length: ${req.body.length}\r\n\r\n`));
        for (let i = 0; i < req.body.length; i += 16 * 1024) pieces.push(req.body.subarray(i, i + 16 * 1024));
      }
      // Write the body at the pace the server reads it, and stop once it has
      // answered: a server may (rightly) answer before reading a large body, and
      // pushing on would only make the kernel reset the connection under the answer.
      const pump = () => {
        while (!done && chunks.length === 0 && pieces.length) {
          if (!socket.write(pieces.shift() as Buffer)) return void socket.once('drain', pump);
        }
      };
      socket.write(Buffer.concat([...head, ...pieces.splice(0, 1)]));
      pump();
    });
  });
}
