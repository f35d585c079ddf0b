// Authentication at every edge (gRPC, HTTP): a bearer token on every call, verified by TokenVerifier; the
// user id comes from the token, never from a message (a message naming another user is refused
// with USER_MISMATCH). Without a configured key the server runs in development mode: the user is
// who the message says, with the author role everywhere (refused on non-loopback addresses unless
// --insecure; see src/server/server.ts).
import { LiveReviewError } from '../core/errors.js';
import type { Role } from '../core/roles.js';
import {
  bearerToken,
  roleIn,
  type Denylist,
  type Principal,
  type TokenVerifier,
} from '../security/tokens.js';

/** A policy hook for embedders: the role of a principal in a session, instead of the token's
 * `sessions` claim. Re-evaluated for live streams every --auth-recheck-ms. */
export type SessionPolicy = (principal: Principal, sessionId: string) => Role | undefined;

const DEVELOPMENT_GRANTS: ReadonlyMap<string, Role> = new Map([['*', 'author']]);

export class Authenticator {
  constructor(
    private readonly verifier: TokenVerifier | undefined,
    readonly denylist: Denylist,
    private readonly policy?: SessionPolicy,
  ) {}

  get enabled(): boolean {
    return this.verifier !== undefined;
  }

  /** Who is calling, from the call's `authorization` header. `claimedUserId` is the user id the
   * request names ('' when it names none). Revocations are read afresh (a file stat when nothing
   * changed): a revoked token is refused on its next call, not only at the next re-check of the
   * streams it holds. */
  async authenticate(authorization: string | undefined, claimedUserId: string): Promise<Principal> {
    if (!this.verifier) {
      return { userId: claimedUserId, sessions: DEVELOPMENT_GRANTS, expiresAt: Infinity, tokenId: '' };
    }
    const principal = await this.verifier.verify(bearerToken(authorization));
    this.denylist.reload();
    return this.accept(principal, claimedUserId);
  }

  /** A fresh token presented inside a stream: it must be valid and for the same user. */
  async refresh(token: string, current: Principal): Promise<Principal> {
    if (!this.verifier) return current;
    return this.accept(await this.verifier.verify(token), current.userId);
  }

  private accept(principal: Principal, claimedUserId: string): Principal {
    if (this.denylist.revokes(principal))
      throw new LiveReviewError('TOKEN_REVOKED', 'this token has been revoked');
    if (claimedUserId && claimedUserId !== principal.userId) {
      throw new LiveReviewError(
        'USER_MISMATCH',
        `user_id ${JSON.stringify(claimedUserId)} is not the token's user`,
        {
          fieldViolations: [
            { field: 'user_id', description: `must be empty or ${JSON.stringify(principal.userId)}` },
          ],
        },
      );
    }
    return principal;
  }

  /** The principal's role in a session, or SESSION_FORBIDDEN. */
  roleIn(principal: Principal, sessionId: string): Role {
    const role = this.policy ? this.policy(principal, sessionId) : roleIn(principal, sessionId);
    if (!role) {
      throw new LiveReviewError(
        'SESSION_FORBIDDEN',
        `${principal.userId} has no role in session ${JSON.stringify(sessionId)}`,
      );
    }
    return role;
  }

  /** Re-check of a live stream: still not revoked, and its current role (or why not). */
  recheck(principal: Principal, sessionId: string): Role {
    this.denylist.reload();
    if (this.denylist.revokes(principal))
      throw new LiveReviewError('TOKEN_REVOKED', 'this token has been revoked');
    return this.roleIn(principal, sessionId);
  }
}

/** A stream that the server re-checks periodically (revocation, changed grants). */
export interface Recheckable {
  recheck(): void;
}
