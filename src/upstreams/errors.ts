import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { DownstreamCancelled, UpstreamLost, UpstreamTimeout } from './guard.js';
import type { Stoppable } from './stop.js';

/** The connection was revoked while a request was under way: nothing more goes upstream (SPEC §4). */
export class ConnectionRevoked extends Error {
  constructor() {
    super('This connection has been revoked');
  }
}

/**
 * A JSON-RPC error as the SDK's Protocol renders it (`code`, `message`, `data`),
 * without McpError's "MCP error N:" prefix, which the client's SDK adds again.
 */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

/** An error received from an upstream, passed on as the upstream said it. */
function passThrough(err: McpError): RpcError {
  return new RpcError(err.code, err.message.replace(/^MCP error -?\d+: /, ''), err.data);
}

/** An upstream's answer turned into what the MCP client sees, and whether the upstream counts as down. */
export interface Outcome {
  error: RpcError;
  upstreamDown: boolean;
}

function describe(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  const cause = e?.cause?.code ?? e?.cause?.message;
  const message = (e?.message ?? String(err))
    .replace(/^MCP error -?\d+: /, '')
    .replace(/\s+/g, ' ')
    .slice(0, 200);
  return cause ? `${message} (${cause})` : message;
}

/**
 * Issue #7: a dead or slow upstream gives its caller a clear MCP error. An
 * error the upstream itself answered with passes through unchanged.
 */
export function upstreamOutcome(upstream: string, err: unknown, stopped?: Stoppable): Outcome {
  const reason: unknown = stopped?.aborted ? stopped.reason : err;
  if (reason instanceof UpstreamTimeout) {
    return {
      error: new RpcError(
        ErrorCode.RequestTimeout,
        `Upstream "${upstream}" did not answer within ${reason.ms} ms`,
      ),
      upstreamDown: true,
    };
  }
  if (reason instanceof UpstreamLost) {
    return {
      error: new RpcError(
        ErrorCode.InternalError,
        `Upstream "${upstream}" is unavailable: ${reason.message}`,
      ),
      upstreamDown: true,
    };
  }
  if (reason instanceof DownstreamCancelled) {
    return {
      error: new RpcError(ErrorCode.RequestTimeout, 'The request was cancelled'),
      upstreamDown: false,
    };
  }
  if (reason instanceof ConnectionRevoked) {
    return { error: new RpcError(ErrorCode.InvalidRequest, reason.message), upstreamDown: false };
  }
  if (reason instanceof McpError && reason.code !== ErrorCode.ConnectionClosed) {
    return { error: passThrough(reason), upstreamDown: false };
  }
  if (reason instanceof StreamableHTTPError && (reason.code === 401 || reason.code === 403)) {
    return {
      error: new RpcError(
        ErrorCode.InternalError,
        `Upstream "${upstream}" refused this connection's credential (HTTP ${reason.code})`,
      ),
      upstreamDown: false,
    };
  }
  return {
    error: new RpcError(
      ErrorCode.InternalError,
      `Upstream "${upstream}" is unavailable: ${describe(reason)}`,
    ),
    upstreamDown: true,
  };
}

/**
 * The upstream forgot the session Waxseal resumed (it restarted, or expired
 * it): open a new one. The transport spec says 404; server-everything, like
 * other servers built on the SDK's examples, answers 400 "No valid session ID".
 */
export function isSessionGone(err: unknown): boolean {
  return err instanceof StreamableHTTPError && (err.code === 404 || err.code === 400);
}

/** MethodNotFound: the source simply has no such list (e.g. no prompts). */
export function isMethodNotFound(err: unknown): boolean {
  return err instanceof McpError && err.code === ErrorCode.MethodNotFound;
}
