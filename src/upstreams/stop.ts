/**
 * A one-shot stop for the gateway's hot path: what an AbortController is to a
 * caller that only needs to hear it. On Node 20 an AbortSignal is an
 * EventTarget whose creation and first listener cost some 8 µs of CPU (with
 * the garbage they leave), and a proxied call made two of them and listened
 * six times (issue 13, docs/benchmarks.md step 12); this costs a fraction of a
 * microsecond. It has the shape undici accepts as a request's `signal` (an
 * EventEmitter's `once`/`removeListener` with `aborted` and `reason`), and
 * gives a real AbortSignal, made when first asked for, to what needs one (the
 * SDK, fetch).
 */
export class Stop {
  aborted = false;
  reason: unknown = undefined;
  private listeners: Array<() => void> | undefined;
  private controller: AbortController | undefined;

  /** Stops, once: every listener hears it, in the order they were added. Without a reason, as AbortController's. */
  abort(reason: unknown = new DOMException('This operation was aborted', 'AbortError')): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners) for (const listener of listeners) listener();
  }

  /** `listener` runs when this stops (at most once); the returned function takes it back. */
  listen(listener: () => void): () => void {
    if (this.aborted) return () => undefined;
    this.listeners ??= [];
    this.listeners.push(listener);
    return () => this.removeListener('abort', listener);
  }

  /** EventEmitter's shape, for undici's `signal` option: only 'abort' is ever emitted. */
  once(_event: 'abort', listener: () => void): this {
    this.listen(listener);
    return this;
  }

  on(event: 'abort', listener: () => void): this {
    return this.once(event, listener);
  }

  removeListener(_event: 'abort', listener: () => void): this {
    const at = this.listeners?.indexOf(listener) ?? -1;
    if (at >= 0) this.listeners?.splice(at, 1);
    return this;
  }

  /** An AbortSignal that follows this stop, for what wants one; made once, on first use. */
  get signal(): AbortSignal {
    if (!this.controller) {
      const controller = new AbortController();
      this.controller = controller;
      if (this.aborted) controller.abort(this.reason);
      else this.listen(() => controller.abort(this.reason));
    }
    return this.controller.signal;
  }
}

/** What a stop can be given as: a Stop, or a plain AbortSignal (read for `aborted` and `reason`). */
export type Stoppable = Stop | AbortSignal;

/** Calls `listener` when `from` stops; returns what takes it back. */
export function onStop(from: Stoppable, listener: () => void): () => void {
  if (from instanceof Stop) return from.listen(listener);
  from.addEventListener('abort', listener, { once: true });
  return () => from.removeEventListener('abort', listener);
}
