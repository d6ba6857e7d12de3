import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  type ClientCapabilities,
  type ClientResult,
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ErrorCode,
  ListRootsRequestSchema,
  type Progress,
  type ProgressToken,
  ResultSchema,
  type ServerNotification,
  type ServerRequest,
} from '@modelcontextprotocol/sdk/types.js';
import { RpcError } from './errors.js';
import type { Guard } from './guard.js';
import { sharedValidator } from './schema-validator.js';

export type DownstreamExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** Sends a server-to-client request from an upstream on to the MCP client and returns its answer. */
export type Forward = (request: ServerRequest, signal: AbortSignal) => Promise<ClientResult>;

/** A person may take a while to answer an elicitation (server-everything allows 10 minutes). */
export const ANSWER_TIMEOUT_MS = 10 * 60_000;

export const GATEWAY_INFO = { name: 'waxseal', version: '0.1.0' };

/**
 * The SDK Client Waxseal talks to a source with. It declares what the MCP
 * client declared (sampling, elicitation, roots), so the upstream offers the
 * same features, and hands the upstream's requests for them to `forward`.
 */
export function sourceClient(capabilities: ClientCapabilities, forward: Forward): Client {
  const client = new Client(GATEWAY_INFO, { capabilities, jsonSchemaValidator: sharedValidator });
  const handle = (request: ServerRequest, extra: { signal: AbortSignal }) => forward(request, extra.signal);
  if (capabilities.sampling) client.setRequestHandler(CreateMessageRequestSchema, handle as never);
  if (capabilities.elicitation) client.setRequestHandler(ElicitRequestSchema, handle as never);
  if (capabilities.roots) client.setRequestHandler(ListRootsRequestSchema, handle as never);
  return client;
}

/**
 * Forwards over the downstream request's own response stream: the request goes
 * out on the SSE stream of the client's POST, and its answer comes back as a
 * new POST that the relay routes here (src/upstreams/relay.ts). The guard's
 * clock stops meanwhile.
 */
export function forwardToClient(
  extra: Pick<DownstreamExtra, 'sendRequest' | 'signal'>,
  streaming: boolean,
  guard?: Guard,
): Forward {
  return async (request, signal) => {
    if (!streaming) {
      throw new RpcError(
        ErrorCode.InvalidRequest,
        `${request.method} can only be forwarded during a tool call, prompt or resource read`,
      );
    }
    guard?.pause();
    try {
      const both = AbortSignal.any([signal, extra.signal]);
      return (await extra.sendRequest(request, ResultSchema, {
        signal: both,
        timeout: ANSWER_TIMEOUT_MS,
      })) as ClientResult;
    } finally {
      guard?.resume();
    }
  };
}

/**
 * Progress from a source, re-sent to the client under the client's own
 * progress token. `sent()` settles once every notification so far is out,
 * so none can trail behind the final result (the stream ends with it).
 */
export function forwardProgress(
  extra: Pick<DownstreamExtra, 'sendNotification'>,
  token: ProgressToken | undefined,
  guard?: Guard,
): { onprogress?: (progress: Progress) => void; sent(): Promise<void> } {
  if (token === undefined) return { sent: async () => undefined };
  let chain: Promise<void> = Promise.resolve();
  return {
    onprogress: (progress) => {
      guard?.progressed();
      chain = chain.then(() =>
        extra
          .sendNotification({
            method: 'notifications/progress',
            params: { ...progress, progressToken: token },
          })
          .catch(() => undefined),
      );
    },
    sent: () => chain,
  };
}
