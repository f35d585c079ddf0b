// Bearer tokens: JWTs verified with jose (issuer, audience, expiry, not-before), keys from a shared
// secret file (HS256), a public key file (PEM, RS256/ES256/EdDSA) or a JWKS file. The token says
// who the user is (`sub`) and, per session, which role they have (`sessions` claim:
// { "<session id>": "author" | "reviewer" | "viewer", "*": … }).
import { readFileSync, statSync } from 'node:fs';
import {
  createLocalJWKSet,
  errors,
  importSPKI,
  jwtVerify,
  SignJWT,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { LiveReviewError } from '../core/errors.js';
import { isRole, type Role } from '../core/roles.js';

export interface Principal {
  userId: string;
  /** Role per session id; '*' applies to every session. A Map: session ids come from the network,
   * and a plain object would answer ids such as "constructor" or "__proto__" from its prototype. */
  sessions: ReadonlyMap<string, Role>;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  tokenId: string;
}

export function roleIn(principal: Principal, sessionId: string): Role | undefined {
  return principal.sessions.get(sessionId) ?? principal.sessions.get('*');
}

export interface TokenKeys {
  secretFile?: string;
  publicKeyFile?: string;
  jwksFile?: string;
  issuer: string;
  audience: string;
  /** Accepted clock skew, seconds. */
  clockToleranceSec?: number;
}

type Key = Uint8Array | Awaited<ReturnType<typeof importSPKI>> | JWTVerifyGetKey;

export class TokenVerifier {
  private constructor(
    private readonly key: Key,
    private readonly algorithms: string[],
    private readonly options: TokenKeys,
  ) {}

  static async fromFiles(options: TokenKeys): Promise<TokenVerifier> {
    const given = [options.secretFile, options.publicKeyFile, options.jwksFile].filter(Boolean);
    if (given.length !== 1)
      throw new Error(
        'configure exactly one of --auth-secret-file, --auth-public-key-file, --auth-jwks-file',
      );
    if (options.secretFile) {
      const secret = readFileSync(options.secretFile, 'utf8').trim();
      if (secret.length < 32)
        throw new Error(`${options.secretFile}: an HS256 secret needs at least 32 characters`);
      return new TokenVerifier(new TextEncoder().encode(secret), ['HS256'], options);
    }
    if (options.publicKeyFile) {
      const pem = readFileSync(options.publicKeyFile, 'utf8');
      const algorithms = ['RS256', 'ES256', 'EdDSA'];
      for (const alg of algorithms) {
        try {
          return new TokenVerifier(await importSPKI(pem, alg), [alg], options);
        } catch {
          // try the next algorithm
        }
      }
      throw new Error(`${options.publicKeyFile}: not an RSA, P-256 or Ed25519 public key in PEM (SPKI)`);
    }
    const jwks = JSON.parse(readFileSync(options.jwksFile!, 'utf8')) as Parameters<
      typeof createLocalJWKSet
    >[0];
    return new TokenVerifier(createLocalJWKSet(jwks), ['RS256', 'ES256', 'EdDSA', 'HS256'], options);
  }

  /** Verifies a bearer token; throws the documented UNAUTHENTICATED reasons. */
  async verify(token: string): Promise<Principal> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.key as Uint8Array, {
        issuer: this.options.issuer,
        audience: this.options.audience,
        algorithms: this.algorithms,
        clockTolerance: this.options.clockToleranceSec ?? 5,
        requiredClaims: ['sub', 'exp'],
      }));
    } catch (err) {
      if (err instanceof errors.JWTExpired)
        throw new LiveReviewError('TOKEN_EXPIRED', 'the token has expired');
      if (err instanceof errors.JWTClaimValidationFailed && err.claim === 'nbf') {
        throw new LiveReviewError('TOKEN_NOT_YET_VALID', 'the token is not valid yet');
      }
      const why = err instanceof errors.JOSEError ? `${err.code}: ${err.message}` : 'malformed token';
      throw new LiveReviewError('TOKEN_INVALID', `invalid token (${why})`);
    }
    const sessions = new Map<string, Role>();
    const claim = payload.sessions;
    if (claim && typeof claim === 'object' && !Array.isArray(claim)) {
      for (const [id, role] of Object.entries(claim as Record<string, unknown>))
        if (isRole(role)) sessions.set(id, role);
    }
    return { userId: payload.sub!, sessions, expiresAt: payload.exp! * 1000, tokenId: payload.jti ?? '' };
  }
}

/** The token of an `authorization: Bearer <token>` header (gRPC metadata or HTTP). */
export function bearerToken(header: string | undefined): string {
  if (!header) {
    throw new LiveReviewError(
      'TOKEN_MISSING',
      'no authorization metadata: send "authorization: Bearer <token>"',
    );
  }
  const m = /^Bearer\s+(\S+)$/i.exec(header.trim());
  if (!m) throw new LiveReviewError('TOKEN_INVALID', 'the authorization metadata is not "Bearer <token>"');
  return m[1]!;
}

/** Mints an HS256 token (the `token` command; development and tests). */
export async function mintToken(options: {
  secret: string;
  userId: string;
  sessions: Record<string, Role>;
  ttlSeconds: number;
  issuer: string;
  audience: string;
  notBefore?: number;
  tokenId?: string;
}): Promise<string> {
  const jwt = new SignJWT({ sessions: options.sessions })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(options.userId)
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + options.ttlSeconds);
  if (options.notBefore !== undefined) jwt.setNotBefore(options.notBefore);
  if (options.tokenId) jwt.setJti(options.tokenId);
  return jwt.sign(new TextEncoder().encode(options.secret));
}

/** Revocations from a JSON file: { "tokens": [jti…], "users": [sub…] }, re-read when it changes. */
export class Denylist {
  private tokens = new Set<string>();
  private users = new Set<string>();
  private mtimeMs = -1;

  constructor(private readonly file: string | undefined) {
    this.reload();
  }

  reload(): void {
    if (!this.file) return;
    let text: string;
    let mtimeMs: number;
    try {
      mtimeMs = statSync(this.file).mtimeMs;
      if (mtimeMs === this.mtimeMs) return;
      text = readFileSync(this.file, 'utf8');
    } catch {
      return; // a missing file revokes nothing; a broken one keeps the last good list
    }
    try {
      const parsed = JSON.parse(text) as { tokens?: unknown; users?: unknown };
      this.tokens = new Set(Array.isArray(parsed.tokens) ? parsed.tokens.map(String) : []);
      this.users = new Set(Array.isArray(parsed.users) ? parsed.users.map(String) : []);
      this.mtimeMs = mtimeMs;
    } catch {
      // keep the previous list
    }
  }

  revokes(p: Principal): boolean {
    return this.users.has(p.userId) || (p.tokenId !== '' && this.tokens.has(p.tokenId));
  }
}
