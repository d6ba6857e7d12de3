import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { InvalidationKind } from '../store/invalidations.js';

/**
 * The connections' own streams (SPEC §11): `GET /mcp` opens one, and what an
 * upstream sends outside a request for that connection is written to it.
 *
 * This class keeps the streams this instance holds. A message for a
 * connection whose stream is on another instance travels over the stream bus
 * (stream-bus.ts). The hub keeps three promises a client cannot break:
 * - a stream whose bearer stops being valid (revoked connection, disabled
 *   user, expired token) is closed at once: every eviction of the token cache
 *   makes the streams it concerns check their bearer again;
 * - a client that does not read cannot make Waxseal buffer without bound:
 *   past `maxBufferBytes` unread, the stream is closed and a line is logged;
 * - an idle stream gets an SSE comment every `keepAliveMs`, so proxies and
 *   load balancers do not cut it.
 */

/** Where a stream's bytes go: the HTTP response, as far as the hub needs it. */
export interface StreamSink {
  write(chunk: string): void;
  /** Bytes written but not yet taken by the client's socket. */
  readonly bufferedBytes: number;
  end(): void;
}

/** What a stream was opened with: enough to check again that it may stay open. */
export interface StreamOwner {
  connectionId: string;
  userId: string;
  tokenHash: string;
  /** The bearer's expiry (epoch ms), or null. */
  expiresAt: number | null;
  /** Answers whether the bearer the stream was opened with is still good (cache first, like every request). */
  stillValid(): Promise<boolean>;
}

export interface StreamLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface ClientStreamsOptions {
  log: StreamLog;
  now(): number;
  keepAliveMs?: number;
  maxBufferBytes?: number;
  /** Run every `everyMs` while streams are open (SQLite: look for other processes' revocations). */
  watch?: { everyMs: number; run(): void };
}

export const KEEP_ALIVE_MS = 15_000;
export const MAX_BUFFER_BYTES = 1024 * 1024;

export type CloseReason = 'revoked' | 'expired' | 'not reading' | 'shutdown' | 'client closed';

class ClientStream {
  closed = false;
  /** When something was last written: an idle stream gets a keep-alive comment. */
  lastWrite = 0;
  constructor(
    readonly owner: StreamOwner,
    readonly sink: StreamSink,
  ) {}
}

export class ClientStreams {
  private readonly byConnection = new Map<string, Set<ClientStream>>();
  private readonly keepAlive: NodeJS.Timeout;
  private readonly watcher: NodeJS.Timeout | undefined;
  private readonly keepAliveMs: number;
  private readonly maxBufferBytes: number;
  private shuttingDown = false;
  /** This instance now holds a stream of the connection, or none any more (the upstream side follows). */
  onHeld: (connectionId: string) => void = () => undefined;
  onReleased: (connectionId: string) => void = () => undefined;

  constructor(private readonly o: ClientStreamsOptions) {
    this.keepAliveMs = o.keepAliveMs ?? KEEP_ALIVE_MS;
    this.maxBufferBytes = o.maxBufferBytes ?? MAX_BUFFER_BYTES;
    this.keepAlive = setInterval(() => this.tick(), Math.min(this.keepAliveMs, 1000));
    this.keepAlive.unref();
    const watch = o.watch;
    if (watch) {
      this.watcher = setInterval(() => {
        if (this.byConnection.size > 0) watch.run();
      }, watch.everyMs);
      this.watcher.unref();
    }
  }

  /** How many streams this instance holds (for /metrics and tests). */
  get size(): number {
    let n = 0;
    for (const set of this.byConnection.values()) n += set.size;
    return n;
  }

  /** Streams of one connection held here. */
  holds(connectionId: string): boolean {
    return (this.byConnection.get(connectionId)?.size ?? 0) > 0;
  }

  /** Registers an opened stream; returns what the HTTP layer calls when the client goes away. */
  open(owner: StreamOwner, sink: StreamSink): () => void {
    if (this.shuttingDown) {
      sink.end();
      return () => undefined;
    }
    const stream = new ClientStream(owner, sink);
    let set = this.byConnection.get(owner.connectionId);
    if (!set) {
      set = new Set();
      this.byConnection.set(owner.connectionId, set);
      this.onHeld(owner.connectionId);
    }
    set.add(stream);
    stream.lastWrite = this.o.now();
    return () => this.close(stream, 'client closed');
  }

  /** Writes a message to every stream of the connection held here; false when there is none. */
  deliver(connectionId: string, message: JSONRPCMessage): boolean {
    const set = this.byConnection.get(connectionId);
    if (!set || set.size === 0) return false;
    const event = `event: message\ndata: ${JSON.stringify(message)}\n\n`;
    for (const stream of set) this.write(stream, event);
    return true;
  }

  /**
   * The token cache dropped something: the streams it may concern check their
   * bearer again and close if it is no longer good. `null` (the cache was
   * cleared, e.g. the invalidation listener reconnected) concerns them all.
   */
  recheck(kind: InvalidationKind | null, ref: string): void {
    for (const stream of this.all()) {
      const o = stream.owner;
      const concerned =
        kind === null ||
        (kind === 'connection' && o.connectionId === ref) ||
        (kind === 'user' && o.userId === ref) ||
        (kind === 'token' && o.tokenHash === ref);
      if (concerned) void this.verify(stream);
    }
  }

  /** Closes every stream (instance shutdown); new ones are refused from now on. */
  closeAll(): void {
    this.shuttingDown = true;
    clearInterval(this.keepAlive);
    clearInterval(this.watcher);
    for (const stream of this.all()) this.close(stream, 'shutdown');
  }

  private async verify(stream: ClientStream): Promise<void> {
    let valid = false;
    try {
      valid = await stream.owner.stillValid();
    } catch (err) {
      // The database cannot say: keep the stream, the next eviction asks again.
      this.o.log.warn({ err: String(err) }, 'could not re-check a client stream');
      return;
    }
    if (!valid) this.close(stream, 'revoked');
  }

  private write(stream: ClientStream, chunk: string): void {
    if (stream.closed) return;
    stream.sink.write(chunk);
    stream.lastWrite = this.o.now();
    if (stream.sink.bufferedBytes > this.maxBufferBytes) {
      this.o.log.warn(
        { connectionId: stream.owner.connectionId, bufferedBytes: stream.sink.bufferedBytes },
        'client stream closed: the client is not reading it',
      );
      this.close(stream, 'not reading');
    }
  }

  private close(stream: ClientStream, reason: CloseReason): void {
    if (stream.closed) return;
    stream.closed = true;
    const set = this.byConnection.get(stream.owner.connectionId);
    set?.delete(stream);
    if (set?.size === 0) {
      this.byConnection.delete(stream.owner.connectionId);
      this.onReleased(stream.owner.connectionId);
    }
    if (reason !== 'client closed') {
      this.o.log.info({ connectionId: stream.owner.connectionId, reason }, 'client stream closed');
    }
    stream.sink.end();
  }

  private tick(): void {
    const now = this.o.now();
    for (const stream of this.all()) {
      const expiresAt = stream.owner.expiresAt;
      if (expiresAt !== null && expiresAt <= now) {
        this.close(stream, 'expired');
        continue;
      }
      if (now - stream.lastWrite >= this.keepAliveMs) this.write(stream, ': keep-alive\n\n');
    }
  }

  private *all(): Iterable<ClientStream> {
    for (const set of [...this.byConnection.values()]) yield* [...set];
  }
}
