import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { NextFunction, Request, Response } from 'express';
import { answerErrorType, describeMessage } from './mcp-attributes.js';
import { tracer, tracingOn } from './tracing.js';

/** How much of an answer is kept to find its error: JSON-RPC errors are small. */
const ANSWER_LIMIT = 64 * 1024;

/**
 * SPEC §13: the SERVER span of one /mcp request, mounted before the bearer
 * check so that refusals are traced too. Everything the request does (upstream
 * calls included) runs inside its context, so upstream spans are its children;
 * a caller's W3C `traceparent` makes it part of the caller's trace. The MCP
 * attributes are read when the answer is done, from the parsed body and the
 * authenticated connection.
 */
export function traceMcpRequest(req: Request, res: Response, next: NextFunction): void {
  if (!tracingOn()) {
    next();
    return;
  }
  const parent = propagation.extract(context.active(), req.headers);
  const span = tracer.startSpan(
    `${req.method} /mcp`,
    { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method } },
    parent,
  );
  const answer = keepAnswer(res);
  res.once('close', () => {
    const { spanName, attributes } = describeMessage(req.body);
    if (spanName) span.updateName(spanName);
    const connectionId = (req as Request & { auth?: AuthInfo }).auth?.extra?.connectionId;
    if (typeof connectionId === 'string') attributes['waxseal.connection.id'] = connectionId;
    const protocol = req.header('mcp-protocol-version');
    if (protocol) attributes['mcp.protocol.version'] = protocol.slice(0, 40);
    const session = res.getHeader('mcp-session-id') ?? req.header('mcp-session-id');
    if (typeof session === 'string') attributes['mcp.session.id'] = session.slice(0, 200);
    attributes['http.response.status_code'] = res.statusCode;
    const errorType =
      (res.statusCode >= 400 ? String(res.statusCode) : undefined) ?? answerErrorType(answer());
    if (errorType) {
      attributes['error.type'] = errorType;
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.setAttributes(attributes);
    span.end();
  });
  context.with(trace.setSpan(parent, span), next);
}

/** Keeps the first ANSWER_LIMIT bytes the response writes. */
function keepAnswer(res: Response): () => string {
  const chunks: Buffer[] = [];
  let size = 0;
  const keep = (chunk: unknown) => {
    if (size >= ANSWER_LIMIT || (typeof chunk !== 'string' && !(chunk instanceof Uint8Array))) return;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk);
    chunks.push(bytes.subarray(0, ANSWER_LIMIT - size));
    size += bytes.length;
  };
  const write = res.write.bind(res);
  const end = res.end.bind(res);
  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    keep(chunk);
    return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof res.write;
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    keep(chunk);
    return (end as (...args: unknown[]) => Response)(chunk, ...rest);
  }) as typeof res.end;
  return () => Buffer.concat(chunks).toString('utf8');
}
