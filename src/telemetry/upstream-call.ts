import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { describeMessage } from './mcp-attributes.js';
import { tracer, tracingOn } from './tracing.js';

/** Which upstream, for which connection: the span's own attributes. */
export interface UpstreamCall {
  upstream: string;
  connectionId: string;
}

/**
 * SPEC §13: fetch for one upstream HTTP request, as a CLIENT span (a child of
 * the /mcp request's span) whose W3C `traceparent` goes to the upstream. Off,
 * it is plain fetch. The URL is described by host and port only (a query could
 * hold a credential); headers and body never become attributes.
 */
export function tracedFetch(
  call: UpstreamCall,
  url: string | URL,
  init: RequestInit,
  send: (url: string | URL, init: RequestInit) => Promise<Response> = fetch,
): Promise<Response> {
  if (!tracingOn()) return send(url, init);
  return traceCall(call, url, init, send);
}

async function traceCall(
  call: UpstreamCall,
  url: string | URL,
  init: RequestInit,
  send: (url: string | URL, init: RequestInit) => Promise<Response>,
): Promise<Response> {
  const headers = new Headers(init.headers);
  return inSpan(
    call,
    new URL(url),
    (init.method ?? 'GET').toUpperCase(),
    typeof init.body === 'string' ? init.body : undefined,
    headers.get('mcp-session-id'),
    (carrier) => propagation.inject(carrier, headers, { set: (h, key, value) => h.set(key, value) }),
    () => send(url, { ...init, headers }),
  );
}

/**
 * `tracedFetch` for a request whose headers are a plain record (names in lower
 * case) and whose answer only needs to say its status.
 */
export function tracedCall<T extends { status: number }>(
  call: UpstreamCall,
  url: URL,
  method: string,
  body: string,
  headers: Record<string, string>,
  send: () => Promise<T>,
): Promise<T> {
  if (!tracingOn()) return send();
  return inSpan(
    call,
    url,
    method,
    body,
    headers['mcp-session-id'],
    (carrier) => propagation.inject(carrier, headers),
    send,
  );
}

async function inSpan<T extends { status: number }>(
  call: UpstreamCall,
  target: URL,
  method: string,
  body: string | undefined,
  session: string | null | undefined,
  inject: (active: ReturnType<typeof context.active>) => void,
  send: () => Promise<T>,
): Promise<T> {
  const { spanName, attributes } = describeMessage(body === undefined ? undefined : parseJson(body));
  if (session) attributes['mcp.session.id'] = session;
  const span = tracer.startSpan(spanName ?? method, {
    kind: SpanKind.CLIENT,
    attributes: {
      ...attributes,
      'waxseal.upstream.name': call.upstream,
      'waxseal.connection.id': call.connectionId,
      'http.request.method': method,
      'server.address': target.hostname,
      'server.port': Number(target.port || (target.protocol === 'https:' ? 443 : 80)),
    },
  });
  const active = trace.setSpan(context.active(), span);
  inject(active);
  try {
    const res = await context.with(active, send);
    span.setAttribute('http.response.status_code', res.status);
    if (res.status >= 400) {
      span.setAttribute('error.type', String(res.status));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    return res;
  } catch (err) {
    span.setAttribute('error.type', err instanceof Error ? err.name : 'Error');
    span.setStatus({ code: SpanStatusCode.ERROR });
    throw err;
  } finally {
    span.end();
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
