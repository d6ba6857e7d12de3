/**
 * Refresh token states (SPEC §2). A connection has at most one `current` token
 * and at most one `grace` token: the current one's immediate predecessor, valid
 * until the current one is first used, so a client that lost a refresh response
 * can retry.
 */
export type RefreshState = 'current' | 'grace' | 'spent' | 'discarded' | 'revoked';

export type Rotation =
  /** The current token: it becomes the grace token and a new current one is issued. */
  | { kind: 'rotate' }
  /** The grace token: its unused replacement is discarded and a new one issued. */
  | { kind: 'retry' }
  /** A rotated-out or discarded token presented again: theft, revoke the connection (RFC 9700 §4.14.2). */
  | { kind: 'reuse' }
  /** A token of a revoked connection. */
  | { kind: 'dead' };

export function rotationFor(state: RefreshState, isCurrent: boolean): Rotation {
  switch (state) {
    case 'current':
      return isCurrent ? { kind: 'rotate' } : { kind: 'reuse' };
    case 'grace':
      return { kind: 'retry' };
    case 'spent':
    case 'discarded':
      return { kind: 'reuse' };
    default:
      return { kind: 'dead' };
  }
}
