import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type JSONRPCErrorResponse,
  type JSONRPCMessage,
  JSONRPCMessageSchema,
  type JSONRPCResultResponse,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import { newId, type Services } from '../services/context.js';
import { ANSWER_TIMEOUT_MS } from './forwarding.js';
import { WrappedTransport } from './transports.js';

export type Answer = JSONRPCResultResponse | JSONRPCErrorResponse;

interface Waiting {
  connectionId: string;
  deliver(answer: Answer): void;
}

/** How often an instance looks for answers that reached another instance. */
const POLL_MS = 100;
const SWEEP_EVERY_MS = 60_000;

/**
 * Routes the client's answers to server-to-client requests (sampling,
 * elicitation, roots) back to the request that is waiting for them.
 *
 * /mcp is stateless, so the request goes out on the SSE stream of the client's
 * POST and the answer arrives as a new POST, possibly on another instance. Each
 * such request gets a unique id on the wire (the SDK numbers them per server,
 * and every POST has a fresh server) and a row in `mcp_relay`. An answer that
 * reaches the instance holding the request is delivered at once; one that
 * reaches another instance is written into the row, and the holder finds it by
 * polling every 100 ms while it waits — no listener connection to lose, and it
 * works on both databases. Answers are accepted only from the connection the
 * request went to.
 */
export class Relay {
  private readonly waiting = new Map<string, Waiting>();
  private poller: NodeJS.Timeout | undefined;
  private lastSweep = 0;
  private closed = false;

  constructor(private readonly s: Services) {}

  /** Records a request about to be sent to a connection's client; returns its id on the wire. */
  async register(connectionId: string, deliver: (answer: Answer) => void): Promise<string> {
    const id = `waxseal-${newId(this.s.random)}`;
    const now = this.s.clock.now();
    await this.s.store.db
      .insertInto('mcp_relay')
      .values({ id, connection_id: connectionId, reply: null, expires_at: now + ANSWER_TIMEOUT_MS + 60_000 })
      .execute();
    this.waiting.set(id, { connectionId, deliver });
    this.schedule();
    return id;
  }

  /** The request was cancelled, timed out or its stream closed: nobody waits any more. */
  release(id: string): void {
    if (!this.waiting.delete(id)) return;
    void this.s.store.db
      .deleteFrom('mcp_relay')
      .where('id', '=', id)
      .execute()
      .catch(() => undefined);
  }

  /** An answer POSTed by a client. False when no request of this connection waits for it. */
  async accept(connectionId: string, answer: Answer): Promise<boolean> {
    const id = String(answer.id);
    const here = this.waiting.get(id);
    if (here) {
      if (here.connectionId !== connectionId) return false;
      this.release(id);
      here.deliver(answer);
      return true;
    }
    const updated = await this.s.store.db
      .updateTable('mcp_relay')
      .set({ reply: JSON.stringify(answer) })
      .where('id', '=', id)
      .where('connection_id', '=', connectionId)
      .where('reply', 'is', null)
      .where('expires_at', '>', this.s.clock.now())
      .executeTakeFirst();
    return Number(updated.numUpdatedRows) === 1;
  }

  /**
   * Takes the answers out of a POST body. `rest` is what is left for the MCP
   * server (null when the body held only answers); `unknown` counts answers
   * nobody waits for.
   */
  async acceptAnswers(connectionId: string, body: unknown): Promise<{ rest: unknown; unknown: number }> {
    const messages = Array.isArray(body) ? body : [body];
    // Almost every POST holds requests only: no schema parse for those (the SDK parses them anyway).
    if (!messages.some(looksLikeAnswer)) return { rest: body, unknown: 0 };
    const parsed = messages.map((m) => JSONRPCMessageSchema.safeParse(m));
    if (parsed.some((p) => !p.success)) return { rest: body, unknown: 0 };
    const answers = messages.filter(
      (m): m is Answer => isJSONRPCResultResponse(m) || isJSONRPCErrorResponse(m),
    );
    if (answers.length === 0) return { rest: body, unknown: 0 };
    let unknown = 0;
    for (const answer of answers) if (!(await this.accept(connectionId, answer))) unknown++;
    const others = messages.filter((m) => !answers.includes(m));
    return { rest: others.length === 0 ? null : Array.isArray(body) ? others : others[0], unknown };
  }

  /** Wraps a downstream transport so the server's requests get relay ids. */
  wrap(inner: Transport, connectionId: string): Transport {
    return new RelayedTransport(inner, this, connectionId);
  }

  private schedule(): void {
    if (this.poller || this.closed || this.waiting.size === 0) return;
    this.poller = setTimeout(() => {
      this.poller = undefined;
      void this.poll()
        .catch((err) => this.s.log.warn({ err: (err as Error).message }, 'relay poll failed'))
        .finally(() => this.schedule());
    }, POLL_MS);
    this.poller.unref();
  }

  private async poll(): Promise<void> {
    const ids = [...this.waiting.keys()];
    if (ids.length === 0) return;
    const db = this.s.store.db;
    const rows = await db
      .selectFrom('mcp_relay')
      .select(['id', 'reply'])
      .where('id', 'in', ids)
      .where('reply', 'is not', null)
      .execute();
    for (const row of rows) {
      const waiting = this.waiting.get(row.id);
      if (!waiting || row.reply === null) continue;
      this.release(row.id);
      waiting.deliver(JSON.parse(row.reply) as Answer);
    }
    const now = this.s.clock.now();
    if (now - this.lastSweep > SWEEP_EVERY_MS) {
      this.lastSweep = now;
      await db.deleteFrom('mcp_relay').where('expires_at', '<', now).execute();
    }
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.poller);
    this.poller = undefined;
  }
}

/** A JSON-RPC response (result or error, no method): what a client POSTs to answer a server's request. */
function looksLikeAnswer(m: unknown): boolean {
  return typeof m === 'object' && m !== null && !('method' in m) && ('result' in m || 'error' in m);
}

/** The downstream transport with relay ids on outgoing requests; everything else passes untouched. */
class RelayedTransport extends WrappedTransport {
  /** Original id → wire id of this transport's requests still waiting. */
  private readonly pending = new Map<RequestId, string>();

  constructor(
    inner: Transport,
    private readonly relay: Relay,
    private readonly connectionId: string,
  ) {
    super(inner);
  }

  override async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    // Responses, the bulk of what is sent, carry no method: they pass without schema checks.
    if (!('method' in message)) return this.inner.send(message, options);
    if (isJSONRPCRequest(message)) {
      const original = message.id;
      const wire = await this.relay.register(this.connectionId, (answer) => {
        this.pending.delete(original);
        this.onmessage?.({ ...answer, id: original });
      });
      this.pending.set(original, wire);
      try {
        await this.inner.send({ ...message, id: wire }, options);
      } catch (err) {
        this.pending.delete(original);
        this.relay.release(wire);
        throw err;
      }
      return;
    }
    if (isJSONRPCNotification(message) && message.method === 'notifications/cancelled') {
      const original = (message.params as { requestId?: RequestId } | undefined)?.requestId;
      const wire = original === undefined ? undefined : this.pending.get(original);
      if (original !== undefined && wire) {
        this.pending.delete(original);
        this.relay.release(wire);
        await this.inner.send({ ...message, params: { ...message.params, requestId: wire } }, options);
        return;
      }
    }
    await this.inner.send(message, options);
  }

  override async close(): Promise<void> {
    this.releaseAll();
    await this.inner.close();
  }

  protected override closed(): void {
    this.releaseAll();
    this.onclose?.();
  }

  private releaseAll(): void {
    for (const wire of this.pending.values()) this.relay.release(wire);
    this.pending.clear();
  }
}
