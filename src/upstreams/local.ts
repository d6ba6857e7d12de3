import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { WrappedTransport } from './transports.js';

/** A source opened for one operation: an SDK Client ready to use, and how to end it. */
export interface Lease {
  client: Client;
  end(): Promise<void>;
}

/**
 * The client side of an in-memory pair that hands every message the caller's
 * AuthInfo, so the built-in and library tools see `extra.authInfo` exactly as
 * when they are served directly (`callerOf`, `getCaller`).
 */
class CallerTransport extends WrappedTransport {
  constructor(
    inner: InMemoryTransport,
    private readonly authInfo: AuthInfo | undefined,
  ) {
    super(inner);
  }

  override send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    return (this.inner as InMemoryTransport).send(message, {
      relatedRequestId: options?.relatedRequestId,
      authInfo: this.authInfo,
    });
  }
}

/**
 * In gateway mode the built-in and library tools are one more source: their
 * McpServer, made for this request, is reached in memory through the same SDK
 * Client as the upstreams, so merging, progress and forwarding work alike.
 */
export async function openLocal(
  server: McpServer,
  client: Client,
  authInfo: AuthInfo | undefined,
): Promise<Lease> {
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  await client.connect(new CallerTransport(clientSide, authInfo));
  return {
    client,
    end: async () => {
      await client.close();
      await server.close();
    },
  };
}
