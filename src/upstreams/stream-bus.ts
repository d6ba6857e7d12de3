import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { sql } from 'kysely';
import pg from 'pg';
import { newId, type Services } from '../services/context.js';

/**
 * Carries a message for a connection's stream (SPEC §11) to the instance that
 * holds it. The upstream's message may arrive on any instance (whichever
 * served the request that caused it, or holds the upstream's own stream); the
 * client's stream may be on another.
 *
 * SQLite means one process: the message goes straight to the local hub.
 * PostgreSQL: a message for a stream held here is written at once; otherwise
 * it is sent with NOTIFY on `waxseal_streams`, on which every instance
 * listens, and the holder writes it. NOTIFY payloads are limited to 8000
 * bytes, so a larger message is stored in `mcp_stream_messages` and the
 * notification carries its id. Messages are not kept for a stream that is
 * not open anywhere: like the upstream's own GET stream, this one has no
 * replay (a client that reconnects gets what is sent from then on).
 */
export interface StreamBus {
  /**
   * Hands a message about a connection to the instance that can act on it:
   * the local handler of its topic first (it returns whether it could), else
   * every other instance.
   */
  publish(topic: Topic, connectionId: string, message: JSONRPCMessage): Promise<void>;
  /** What to do with a topic's messages here; returns false when this instance cannot act on it. */
  on(topic: Topic, handler: Handler): void;
  stop(): Promise<void>;
}

/**
 * `stream`: a message for the connection's client stream; `cancel`: a client's
 * notifications/cancelled for a request in flight somewhere.
 */
export type Topic = 'stream' | 'cancel';
export type Handler = (connectionId: string, message: JSONRPCMessage) => boolean;

export const STREAM_CHANNEL = 'waxseal_streams';
/** Stays under PostgreSQL's 8000-byte NOTIFY limit with room for the envelope. */
const INLINE_MAX_BYTES = 7000;
/** Stored large messages are read within milliseconds; older ones are dropped. */
const STORED_TTL_MS = 5 * 60_000;

interface Envelope {
  t: Topic;
  c: string;
  m?: JSONRPCMessage;
  r?: string;
}

class Handlers {
  private readonly byTopic = new Map<Topic, Handler[]>();
  on(topic: Topic, handler: Handler): void {
    this.byTopic.set(topic, [...(this.byTopic.get(topic) ?? []), handler]);
  }
  /** True when a handler here acted on the message. */
  run(topic: Topic, connectionId: string, message: JSONRPCMessage): boolean {
    let handled = false;
    for (const handler of this.byTopic.get(topic) ?? []) handled = handler(connectionId, message) || handled;
    return handled;
  }
}

/** Runs tasks one after another per key (each starts when the one before has settled). */
class Queues {
  private readonly tails = new Map<string, Promise<void>>();
  run(key: string, task: () => Promise<void>): Promise<void> {
    const next = (this.tails.get(key) ?? Promise.resolve()).then(task, task);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }
}

export function openStreamBus(s: Services): StreamBus {
  if (s.store.dialect === 'sqlite') {
    const handlers = new Handlers();
    return {
      publish: async (topic, connectionId, message) => {
        handlers.run(topic, connectionId, message);
      },
      on: (topic, handler) => handlers.on(topic, handler),
      stop: async () => undefined,
    };
  }
  return new PostgresStreamBus(s);
}

class PostgresStreamBus implements StreamBus {
  private readonly handlers = new Handlers();
  private client: pg.Client | null = null;
  private stopped = false;
  private retry: NodeJS.Timeout | null = null;
  private lastPurge = 0;
  private readonly ready: Promise<void>;
  private readonly sending = new Queues();
  private readonly receiving = new Queues();

  constructor(private readonly s: Services) {
    this.ready = this.connect();
  }

  on(topic: Topic, handler: Handler): void {
    this.handlers.on(topic, handler);
  }

  async publish(topic: Topic, connectionId: string, message: JSONRPCMessage): Promise<void> {
    if (this.handlers.run(topic, connectionId, message)) return;
    // One at a time per connection: NOTIFYs are delivered in commit order, and
    // concurrent sends on the pool's connections would commit in any order.
    await this.sending.run(connectionId, () => this.send(topic, connectionId, message));
  }

  private async send(topic: Topic, connectionId: string, message: JSONRPCMessage): Promise<void> {
    const inline = JSON.stringify({ t: topic, c: connectionId, m: message } satisfies Envelope);
    if (Buffer.byteLength(inline) <= INLINE_MAX_BYTES) {
      await sql`select pg_notify(${STREAM_CHANNEL}, ${inline})`.execute(this.s.store.db);
      return;
    }
    const id = newId(this.s.random);
    const at = this.s.clock.now();
    await this.s.store.transact(async (tx) => {
      await tx
        .insertInto('mcp_stream_messages')
        .values({ id, connection_id: connectionId, message: JSON.stringify(message), created_at: at })
        .execute();
      const ref = JSON.stringify({ t: topic, c: connectionId, r: id } satisfies Envelope);
      await sql`select pg_notify(${STREAM_CHANNEL}, ${ref})`.execute(tx);
    });
    if (at - this.lastPurge > 60_000) {
      this.lastPurge = at;
      void this.s.store.db
        .deleteFrom('mcp_stream_messages')
        .where('created_at', '<', at - STORED_TTL_MS)
        .execute()
        .catch(() => undefined);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    await this.ready;
    await this.client?.end().catch(() => undefined);
  }

  private async receive(payload: string): Promise<void> {
    let envelope: Envelope;
    try {
      envelope = JSON.parse(payload) as Envelope;
    } catch {
      return;
    }
    if (envelope.m) {
      this.handlers.run(envelope.t, envelope.c, envelope.m);
      return;
    }
    if (!envelope.r) return;
    const row = await this.s.store.db
      .selectFrom('mcp_stream_messages')
      .select('message')
      .where('id', '=', envelope.r)
      .executeTakeFirst();
    if (row) this.handlers.run(envelope.t, envelope.c, JSON.parse(row.message) as JSONRPCMessage);
  }

  private async connect(): Promise<void> {
    this.retry = null;
    if (this.stopped) return;
    const url = this.s.store.postgresUrl;
    const c = new pg.Client({
      connectionString: url,
      connectionTimeoutMillis: 3000,
      application_name: `waxseal-streams-${process.pid}`,
    });
    const lost = (why: string) => {
      if (this.client !== c || this.stopped) return;
      this.client = null;
      this.s.log.warn({ why }, 'stream bus listener lost; reconnecting');
      c.end().catch(() => undefined);
      this.retry = setTimeout(() => void this.connect(), 250);
    };
    c.on('error', (err) => lost(String(err)));
    c.on('end', () => lost('connection ended'));
    c.on('notification', (msg) => {
      if (msg.channel === STREAM_CHANNEL && msg.payload) {
        // In arrival order: a large message (read from the table) must not be overtaken by the next.
        const payload = msg.payload;
        void this.receiving
          .run('', () => this.receive(payload))
          .catch((err) => this.s.log.warn({ err: String(err) }, 'a stream message could not be delivered'));
      }
    });
    try {
      await c.connect();
      await c.query(`listen ${STREAM_CHANNEL}`);
      // Stopped while connecting (a reconnect during shutdown): this client must not outlive the bus.
      if (this.stopped) {
        await c.end().catch(() => undefined);
        return;
      }
      this.client = c;
    } catch (err) {
      this.s.log.warn({ err: String(err) }, 'stream bus listener cannot connect; retrying');
      c.end().catch(() => undefined);
      if (!this.stopped) this.retry = setTimeout(() => void this.connect(), 1000);
    }
  }
}
