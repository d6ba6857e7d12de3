import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, MessageExtraInfo } from '@modelcontextprotocol/sdk/types.js';

/**
 * An SDK transport around another one. Subclasses change what is sent
 * (`send`) or received (`receive`); everything else passes through. The SDK's
 * Protocol sets the callbacks before start(), which hooks the inner transport.
 */
export class WrappedTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void;

  constructor(protected readonly inner: Transport) {}

  get sessionId(): string | undefined {
    return this.inner.sessionId;
  }

  async start(): Promise<void> {
    this.inner.onmessage = (message, extra) => this.receive(message, extra);
    this.inner.onerror = (error) => this.onerror?.(error);
    this.inner.onclose = () => this.closed();
    await this.inner.start();
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    return this.inner.send(message, options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  protected receive(message: JSONRPCMessage, extra?: MessageExtraInfo): void {
    this.onmessage?.(message, extra);
  }

  protected closed(): void {
    this.onclose?.();
  }
}

/**
 * Hands incoming messages to the SDK one per event-loop turn, in order. The
 * SDK runs notification handlers a microtask late, so a progress notification
 * and the response that follows it in the same stdio chunk would otherwise be
 * seen the other way round, and the progress dropped.
 */
export class OneMessagePerTurn extends WrappedTransport {
  private queue: Array<[JSONRPCMessage, MessageExtraInfo | undefined]> = [];
  private draining = false;
  private closing = false;

  protected override receive(message: JSONRPCMessage, extra?: MessageExtraInfo): void {
    this.queue.push([message, extra]);
    if (!this.draining) this.drain();
  }

  /** The last messages before the end are delivered before the end. */
  protected override closed(): void {
    if (this.draining) this.closing = true;
    else this.onclose?.();
  }

  private drain(): void {
    const next = this.queue.shift();
    if (!next) {
      this.draining = false;
      if (this.closing) this.onclose?.();
      return;
    }
    this.draining = true;
    setImmediate(() => {
      this.onmessage?.(next[0], next[1]);
      this.drain();
    });
  }
}
