import type { Attributes } from '@opentelemetry/api';

/**
 * The MCP semantic-convention attributes of one JSON-RPC message (OpenTelemetry
 * semconv for MCP): the method, the tool or prompt it names and the request id.
 * Never a param's value, an argument, a URI or anything else the client sent:
 * those may hold secrets (SPEC §13).
 */
export interface McpMessage {
  /** `{mcp.method.name} {target}`, e.g. `tools/call echo`; undefined for a message with no method. */
  spanName?: string;
  attributes: Attributes;
}

type JsonRpc = { method?: unknown; id?: unknown; params?: { name?: unknown } };

/** A batch is described by its first message. */
export function describeMessage(body: unknown): McpMessage {
  const message = (Array.isArray(body) ? body[0] : body) as JsonRpc | undefined;
  const attributes: Attributes = {};
  if (!message || typeof message !== 'object') return { attributes };
  const method = typeof message.method === 'string' ? message.method.slice(0, 100) : undefined;
  if (typeof message.id === 'string' || typeof message.id === 'number') {
    attributes['jsonrpc.request.id'] = String(message.id).slice(0, 100);
  }
  if (!method) return { attributes };
  attributes['mcp.method.name'] = method;
  const name = typeof message.params?.name === 'string' ? message.params.name.slice(0, 200) : undefined;
  if (method === 'tools/call' && name) {
    attributes['gen_ai.tool.name'] = name;
    attributes['gen_ai.operation.name'] = 'execute_tool';
    return { spanName: `${method} ${name}`, attributes };
  }
  if (method === 'prompts/get' && name) {
    attributes['gen_ai.prompt.name'] = name;
    return { spanName: `${method} ${name}`, attributes };
  }
  return { spanName: method, attributes };
}

/**
 * error.type of an answer that carries a failure: the JSON-RPC error code, or
 * `tool_error` for a tool result with isError (semconv). Reads a JSON body or
 * the data lines of an event stream.
 */
export function answerErrorType(text: string): string | undefined {
  const payloads =
    text.trimStart().startsWith('{') || text.trimStart().startsWith('[')
      ? [text]
      : text
          .split('\n')
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5));
  for (const payload of payloads) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload);
    } catch {
      continue;
    }
    for (const m of (Array.isArray(parsed) ? parsed : [parsed]) as Array<Record<string, unknown>>) {
      const error = m?.error as { code?: unknown } | undefined;
      if (error && (typeof error.code === 'number' || typeof error.code === 'string'))
        return String(error.code);
      if ((m?.result as { isError?: unknown } | undefined)?.isError === true) return 'tool_error';
    }
  }
  return undefined;
}
