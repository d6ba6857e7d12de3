import {
  ClientRequestSchema,
  type JSONRPCMessage,
  type JSONRPCNotification,
  type JSONRPCRequest,
  type JSONRPCResponse,
  type JSONRPCResultResponse,
  RELATED_TASK_META_KEY,
} from '@modelcontextprotocol/sdk/types.js';

/**
 * JSON-RPC checks for /mcp's hot path (issue 13). The SDK's `isJSONRPCRequest`
 * and friends are zod parses, and a proxied call ran a dozen of them on
 * messages already validated. These are exact for what they are given:
 * `plainRequest` accepts only messages the SDK's strict `JSONRPCRequestSchema`
 * accepts too (anything else is left to that schema), and the `is…` functions
 * tell apart messages already known to be valid, whose kinds differ by their
 * keys (the SDK's schemas are strict objects).
 */

const REQUEST_KEYS = new Set(['jsonrpc', 'id', 'method', 'params']);

export function plainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** RequestIdSchema and ProgressTokenSchema: a string or an integer (a safe one: a subset either way). */
function isId(v: unknown): boolean {
  return typeof v === 'string' || Number.isSafeInteger(v);
}

/**
 * A request in the plain shape clients send: `jsonrpc` "2.0", an id, a method,
 * params absent or an object whose `_meta`, if any, holds at most a valid
 * progress token. True only where `JSONRPCRequestSchema` also accepts it;
 * false means "ask the schema", not "invalid".
 */
export function plainRequest(value: unknown): value is JSONRPCRequest {
  if (!plainObject(value) || value.jsonrpc !== '2.0' || typeof value.method !== 'string' || !isId(value.id)) {
    return false;
  }
  for (const key in value) if (!REQUEST_KEYS.has(key)) return false;
  const params = value.params;
  return params === undefined || (plainObject(params) && plainMeta(params._meta));
}

const RESULT_KEYS = new Set(['jsonrpc', 'id', 'result']);

/**
 * A successful response in the plain shape: `jsonrpc` "2.0", an id, a result
 * object whose `_meta`, if any, holds at most a valid progress token. True only
 * where the SDK's strict `JSONRPCResultResponseSchema` also accepts it (an
 * error response, or anything unusual, is left to the SDK).
 */
export function plainResult(value: unknown): value is JSONRPCResultResponse {
  if (!plainObject(value) || value.jsonrpc !== '2.0' || !isId(value.id)) return false;
  for (const key in value) if (!RESULT_KEYS.has(key)) return false;
  return plainObject(value.result) && plainMeta(value.result._meta);
}

const TOOL_RESULT_KEYS = new Set(['content', 'structuredContent', 'isError', '_meta']);

/**
 * A tools/call result in its plain shape: text content only (`type` "text" and
 * a string `text`, nothing else), `structuredContent` absent or an object,
 * `isError` absent or a boolean, `_meta` as plainMeta takes it. The SDK's
 * `CallToolResultSchema` accepts such a result and yields it unchanged, so the
 * gateway's direct path (issue 13) need not parse it; anything else (images,
 * resources, annotations, a missing `content`) is parsed by the schema.
 */
export function plainToolResult(result: unknown): boolean {
  if (!plainObject(result)) return false;
  for (const key in result) if (!TOOL_RESULT_KEYS.has(key)) return false;
  const { content, structuredContent, isError } = result;
  if (!Array.isArray(content)) return false;
  for (const block of content) {
    if (!plainObject(block) || block.type !== 'text' || typeof block.text !== 'string') return false;
    for (const key in block) if (key !== 'type' && key !== 'text') return false;
  }
  if (structuredContent !== undefined && !plainObject(structuredContent)) return false;
  if (isError !== undefined && typeof isError !== 'boolean') return false;
  return plainMeta(result._meta);
}

/** RequestMetaSchema, in its plain shape: absent, or an object with at most a valid progress token. */
export function plainMeta(meta: unknown): boolean {
  if (meta === undefined) return true;
  if (!plainObject(meta)) return false;
  if (meta.progressToken !== undefined && !isId(meta.progressToken)) return false;
  return meta[RELATED_TASK_META_KEY] === undefined;
}

/** Of a valid message: a request (a method and an id). */
export function isRequest(m: JSONRPCMessage): m is JSONRPCRequest {
  return 'method' in m && 'id' in m;
}

/** Of a valid message: a notification (a method, no id). */
export function isNotification(m: JSONRPCMessage): m is JSONRPCNotification {
  return 'method' in m && !('id' in m);
}

/** Of a valid message: a response, with a result or an error. */
export function isResponse(m: JSONRPCMessage): m is JSONRPCResponse {
  return !('method' in m) && ('result' in m || 'error' in m);
}

/** The SDK's schema of each request a client may send, by method. */
const CLIENT_REQUESTS: ReadonlyMap<string, (typeof ClientRequestSchema.options)[number]> = new Map(
  ClientRequestSchema.options.map((s) => [s.shape.method.value, s]),
);

/** The issues an Invalid params message lists at most. */
const MAX_ISSUES = 5;

/**
 * False when the request's params are surely what its method takes (a
 * tools/call with a name and plain arguments, as every proxied call is) or
 * its method is not one the SDK defines; true when `invalidParams` may have
 * something to say.
 */
export function paramsMayBeInvalid(request: JSONRPCRequest): boolean {
  if (request.method === 'tools/call' && plainToolCall(request.params)) return false;
  return CLIENT_REQUESTS.has(request.method);
}

/**
 * Why a request's params are not what its method takes (by the SDK's schema
 * for that method), or undefined when they are or the method is not one the
 * SDK defines. The SDK's Protocol parses a request before its handler runs
 * and answers a failed parse as an internal error (-32603); this says what is
 * wrong in words, for an Invalid params (-32602) answer instead.
 */
export function invalidParams(request: JSONRPCRequest): string | undefined {
  const parsed = CLIENT_REQUESTS.get(request.method)?.safeParse(request);
  if (!parsed || parsed.success) return undefined;
  const issues = parsed.error.issues;
  const problems = issues
    .slice(0, MAX_ISSUES)
    .map((i) => `${i.path.join('.') || 'the request'}: ${i.message}`);
  if (issues.length > MAX_ISSUES) problems.push(`and ${issues.length - MAX_ISSUES} more`);
  return `Invalid params for ${request.method}: ${problems.join('; ')}`;
}

/** CallToolRequestSchema's params in their plain shape: a name, plain arguments, no task. */
function plainToolCall(params: unknown): boolean {
  return (
    plainObject(params) &&
    typeof params.name === 'string' &&
    (params.arguments === undefined || plainObject(params.arguments)) &&
    params.task === undefined &&
    plainMeta(params._meta)
  );
}
