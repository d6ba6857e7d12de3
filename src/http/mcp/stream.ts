import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { Request, Response } from 'express';
import { sha256 } from '../../domain/secrets.js';
import { resolveBearer } from '../../services/bearer.js';
import { callerOf } from '../../services/caller.js';
import type { Services } from '../../services/context.js';
import type { ClientStreams } from '../../upstreams/client-streams.js';

const jsonRpcError = (code: number, message: string) => ({
  jsonrpc: '2.0',
  error: { code, message },
  id: null,
});

/**
 * `GET /mcp` (SPEC §11): opens the connection's stream, on which upstream
 * messages sent outside any request arrive (upstreams/client-streams.ts). The
 * bearer middleware has already run; the stream stays open while its bearer
 * stays good.
 */
export function clientStream(s: Services, streams: ClientStreams) {
  return (req: Request, res: Response) => {
    if (!/\btext\/event-stream\b/.test(req.headers.accept ?? '')) {
      res.status(406).json(jsonRpcError(-32000, 'Not Acceptable: GET /mcp needs Accept: text/event-stream'));
      return;
    }
    const auth = (req as Request & { auth?: AuthInfo }).auth as AuthInfo;
    const caller = callerOf(auth);
    const bearer = auth.token;
    const connectionId = caller.connection.id;
    // A client gone while the bearer was checked: its 'close' has fired already, and
    // a stream registered now would never be let go.
    if (res.destroyed || req.socket.destroyed) return;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.write(': stream open\n\n');
    const done = streams.open(
      {
        connectionId,
        userId: caller.user.id,
        tokenHash: sha256(bearer),
        expiresAt: auth.expiresAt === undefined ? null : auth.expiresAt * 1000,
        stillValid: async () => (await resolveBearer(s, bearer))?.connection.id === connectionId,
      },
      {
        write: (chunk) => res.write(chunk),
        get bufferedBytes() {
          return res.writableLength;
        },
        end: () => res.end(),
        destroy: () => res.destroy(),
      },
    );
    res.on('close', done);
    if (res.closed) done();
  };
}
