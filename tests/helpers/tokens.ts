/**
 * Access tokens for tests (PROTOCOL-v2 section 2): HS256 JWTs signed with jose, as an application would.
 */
import { SignJWT, UnsecuredJWT } from "jose";

/** The HS256 secret test servers get as PARLEY_JWT_SECRET (at least 32 bytes). */
export const TEST_JWT_SECRET = "parley-test-secret-0123456789-abcdefghijklmnop";

/** The claims Parley reads; anything else is signed as given. */
export interface TokenClaims {
  sub: string;
  name?: string;
  rooms?: string[];
  role?: "member" | "moderator";
  [claim: string]: unknown;
}

export interface SignOptions {
  /** Sign with this secret instead of TEST_JWT_SECRET (a bad signature). */
  secret?: string;
  /** `exp`: a jose time span ("1h", "-5m") or seconds since the epoch. Default "1h". */
  expiresAt?: string | number;
  /** `iat`: seconds since the epoch. Default now. */
  issuedAt?: number;
  /** `nbf`: a jose time span ("10m") or seconds since the epoch. Default none. */
  notBefore?: string | number;
}

/** A signed access token for `claims`. */
export function signToken(claims: TokenClaims, opts: SignOptions = {}): Promise<string> {
  const { sub, ...rest } = claims;
  const jwt = new SignJWT(rest)
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(sub)
    .setIssuedAt(opts.issuedAt)
    .setExpirationTime(opts.expiresAt ?? "1h");
  if (opts.notBefore !== undefined) jwt.setNotBefore(opts.notBefore);
  return jwt.sign(new TextEncoder().encode(opts.secret ?? TEST_JWT_SECRET));
}

/** A token that expired five minutes ago (well past the 30 s of clock skew). */
export function expiredToken(claims: TokenClaims): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return signToken(claims, { expiresAt: now - 300, issuedAt: now - 3900 });
}

/** An unsigned token (`alg: none`) with valid claims: never accepted. */
export function unsignedToken(claims: TokenClaims): string {
  const { sub, ...rest } = claims;
  return new UnsecuredJWT(rest).setSubject(sub).setIssuedAt().setExpirationTime("1h").encode();
}
