/**
 * Signed access tokens (docs/protocol.md, "Signed access tokens"): where a request carries one, how it is
 * verified, what it grants, and the access step of the socket and read checks.
 *
 * Why `jose` and not `hono/utils/jwt`: both run on Web Crypto alone, so both would load on Node 20, Deno,
 * Bun and workerd. But Hono 4.13's `verifyWithJwks` (node_modules/hono/dist/utils/jwt/jwt.js) fetches
 * `jwks_uri` on every call, with no cache and no cooldown, so every connect would cost the identity
 * provider a request; it refuses any token without a `kid` (we must accept one when exactly one key fits);
 * its `verify` has no clock tolerance (`nbf > now`, `exp <= now`, strictly) and treats `exp` as optional;
 * and its errors quote the whole token in their message (`invalid JWT token: <token>`), which would leak a
 * credential into any log that prints one. `jose` has a cached remote key set that refetches on an unknown
 * `kid` only after a cooldown, a local key set, `clockTolerance`, `requiredClaims`, an algorithm allow-list,
 * key-type checks per algorithm (it refuses HS256 keyed with a public key: ERR_JOSE_ALG_NOT_ALLOWED), and
 * messages that never contain the token. It is the JOSE library the Workers and Deno ecosystems use.
 *
 * Runtime-agnostic: nothing here but `jose` (Web Crypto), `fetch`, `TextEncoder` and `URL`.
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  decodeProtectedHeader,
  errors,
  type FetchImplementation,
  type JWSHeaderParameters,
  type JWTPayload,
  jwtVerify,
} from "jose";
import type { Config } from "./config.ts";
import { log } from "./log.ts";
import { checkName, NAME_MAX } from "./protocol/constants.ts";

export type Role = "member" | "moderator";

/** A verified user, from the token's claims. */
export interface Identity {
  sub: string;
  name: string;
  role: Role;
  rooms?: string[];
}

/** Verifies access tokens for one configuration; built once per process/isolate. */
export interface Verifier {
  /** The token's identity; throws `AuthError` for any token that is not valid here. */
  verify(token: string): Promise<Identity>;
}

/** Why a token was refused. The message is safe to show a client: it never contains the token. */
export class AuthError extends Error {}

/** The clock skew allowed on `exp`, `nbf` and `iat`, in seconds. */
export const CLOCK_TOLERANCE_S = 30;

/** An unknown `kid` fetches `PARLEY_JWKS_URL` again at most this often (and so does a failed fetch). */
export const JWKS_COOLDOWN_MS = 60_000;

/** How long fetched keys are used before they are fetched again (so a removed key stops working). */
export const JWKS_MAX_AGE_MS = 10 * 60_000;

/** The longest access token looked at; anything longer is refused before it is parsed. */
export const TOKEN_MAX = 8192;

/** The longest `sub`, in UTF-16 code units (like every length rule of the contract). */
export const SUB_MAX = 64;

/** The algorithms accepted, each only with its own key type. */
const ASYMMETRIC = ["RS256", "ES256", "EdDSA"];

type KeyResolver = (header: JWSHeaderParameters) => Promise<CryptoKey>;

/**
 * `fetch` for the remote key set, refusing to try again within a minute of a failed attempt. `jose`
 * cools down only after a *successful* fetch: while the URL fails (or serves something that is not a key
 * set), every token with an unknown `kid` (or every token, before the first success) would fetch again.
 * A body that is not a JSON Web Key Set counts as a failure here too.
 */
function gatedFetch(fetcher: (url: string, init: RequestInit) => Promise<Response>): FetchImplementation {
  let failedAt = Number.NEGATIVE_INFINITY;
  const failed = (why: string) => {
    failedAt = Date.now();
    // The URL is not printed (it may carry a key in its query); the variable's name says which it is.
    log.warn("jwks_fetch_failed", { error: why });
  };
  return async (url, init) => {
    if (Date.now() - failedAt < JWKS_COOLDOWN_MS) throw new Error("the key set fetch failed less than a minute ago");
    let res: Response;
    try {
      res = await fetcher(url, init);
    } catch (err) {
      failed((err as Error).name === "TimeoutError" ? "timed out" : String((err as Error).message));
      throw err;
    }
    if (res.status !== 200) {
      failed(`status ${res.status}`);
      await res.body?.cancel();
      return res;
    }
    let body: unknown;
    try {
      body = await res.json();
    } catch (err) {
      failed("the body is not JSON");
      throw err;
    }
    const keys = (body as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys) || !keys.every((k) => typeof k === "object" && k !== null && !Array.isArray(k))) {
      failed('the body is not a JSON Web Key Set ({"keys":[…]})');
      throw new Error("not a JSON Web Key Set");
    }
    return new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json" } });
  };
}

/** What one key set holds for a token's header: one key, none, or several (ambiguous). */
async function lookUp(set: KeyResolver, header: JWSHeaderParameters): Promise<CryptoKey | "none" | "many"> {
  try {
    return await set(header);
  } catch (err) {
    if (err instanceof errors.JWKSNoMatchingKey) return "none";
    if (err instanceof errors.JWKSMultipleMatchingKeys) return "many";
    // A failed fetch of PARLEY_JWKS_URL (network, status, timeout, body) is a plain error, a generic
    // JOSEError or a JWKSTimeout; its cause stays server-side. Other JOSE errors are about a key itself.
    if (err instanceof errors.JOSEError && err.code !== "ERR_JOSE_GENERIC" && !(err instanceof errors.JWKSTimeout)) {
      throw new AuthError("the access token's key could not be used");
    }
    throw new AuthError("the signing keys could not be fetched; try again later");
  }
}

/**
 * The key for an RS256, ES256 or EdDSA token: the inline set first, then the fetched one. With a `kid`,
 * the key of that `kid` (an inline match never waits on the network). Without one, only when exactly one
 * key of all the configured ones fits the algorithm.
 */
function asymmetricKey(sets: KeyResolver[]): KeyResolver {
  return async (header) => {
    const found: CryptoKey[] = [];
    for (const set of sets) {
      const key = await lookUp(set, header);
      if (key === "many") {
        throw new AuthError(
          header.kid === undefined
            ? "the access token has no kid and more than one key fits its algorithm"
            : "more than one key has the access token's kid",
        );
      }
      if (key === "none") continue;
      if (header.kid !== undefined) return key;
      found.push(key);
    }
    if (found.length === 1) return found[0];
    if (found.length > 1) throw new AuthError("the access token has no kid and more than one key fits its algorithm");
    throw new AuthError(
      header.kid === undefined
        ? "no key here fits the access token's algorithm"
        : "the access token's kid is not known",
    );
  };
}

/** A client-safe reason for a `jose` refusal (its messages never hold the token, but ours are plainer). */
function reason(err: unknown): string {
  if (err instanceof AuthError) return err.message;
  if (err instanceof errors.JWTExpired) return "the access token has expired";
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.reason === "missing") return `the access token has no "${err.claim}" claim`;
    if (err.claim === "nbf") return "the access token is not valid yet";
    if (err.claim === "iss") return "the access token's issuer is not accepted here";
    if (err.claim === "aud") return "the access token's audience is not this server";
    return `the access token's "${err.claim}" claim is not valid`;
  }
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) {
    return "the access token's algorithm is not accepted here";
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return "the access token's signature is not valid";
  if (err instanceof errors.JWTInvalid || err instanceof errors.JWSInvalid) return "the access token is malformed";
  return "the access token is not valid";
}

/** A string claim that is present, or undefined; anything else but absence is a refusal. */
function optionalString(payload: JWTPayload, claim: string): string | undefined {
  const value = payload[claim];
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw new AuthError(`the access token's "${claim}" claim must be a string`);
  return value;
}

/** The name a token without a `name` gets: its `sub`, cut to the name length if it is longer. */
function nameFromSub(sub: string): string {
  let cut = sub.trim().normalize("NFC");
  if (cut.length > NAME_MAX) {
    cut = cut.slice(0, NAME_MAX);
    // Never leave half of a surrogate pair at the end.
    if (/[\ud800-\udbff]$/.test(cut)) cut = cut.slice(0, -1);
  }
  const checked = checkName(cut);
  if (!checked.ok) throw new AuthError(`the access token has no "name", and its "sub" is not a usable name`);
  return checked.name;
}

/** The identity of a verified claims set, by the contract's claim rules. */
function identityOf(payload: JWTPayload): Identity {
  const sub = payload.sub;
  if (typeof sub !== "string" || sub.length < 1 || sub.length > SUB_MAX) {
    throw new AuthError(`the access token's "sub" must be a string of 1–${SUB_MAX} characters`);
  }
  if (typeof payload.iat === "number" && payload.iat > Date.now() / 1000 + CLOCK_TOLERANCE_S) {
    throw new AuthError("the access token was issued in the future");
  }
  const rawName = optionalString(payload, "name");
  let name: string;
  if (rawName === undefined) name = nameFromSub(sub);
  else {
    const checked = checkName(rawName);
    if (!checked.ok) throw new AuthError(`the access token's "name" is not allowed: ${checked.message}`);
    name = checked.name;
  }
  const role = optionalString(payload, "role") ?? "member";
  if (role !== "member" && role !== "moderator") {
    throw new AuthError(`the access token's "role" must be "member" or "moderator"`);
  }
  const identity: Identity = { sub, name, role };
  const rooms = payload.rooms;
  if (rooms !== undefined) {
    if (!Array.isArray(rooms) || !rooms.every((r) => typeof r === "string")) {
      throw new AuthError(`the access token's "rooms" claim must be a list of strings`);
    }
    identity.rooms = [...rooms];
  }
  return identity;
}

/**
 * The verifier for a configuration, or undefined when PARLEY_AUTH is off. HS256 tokens are verified
 * with `PARLEY_JWT_SECRET` (the only HS256 key there is, so its `kid`, if any, is not consulted); RS256,
 * ES256 and EdDSA tokens with `PARLEY_JWT_PUBLIC_KEYS` and `PARLEY_JWKS_URL`. `fetcher` fetches the
 * latter (tests pass their own).
 */
export function createVerifier(config: Config, fetcher: typeof fetch = fetch): Verifier | undefined {
  const { mode, secret, publicKeys, jwksUrl, issuer, audience } = config.auth;
  if (mode === "off") return undefined;
  const hmacKey = secret === undefined ? undefined : new TextEncoder().encode(secret);
  const sets: KeyResolver[] = [];
  if (publicKeys !== undefined) sets.push(createLocalJWKSet(publicKeys));
  if (jwksUrl !== undefined) {
    sets.push(
      createRemoteJWKSet(new URL(jwksUrl), {
        cooldownDuration: JWKS_COOLDOWN_MS,
        cacheMaxAge: JWKS_MAX_AGE_MS,
        [customFetch]: gatedFetch((input, init) => fetcher(input, init)),
      }),
    );
  }
  const asymmetric = sets.length > 0 ? asymmetricKey(sets) : undefined;

  return {
    async verify(token) {
      try {
        if (typeof token !== "string" || token.length === 0 || token.length > TOKEN_MAX) {
          throw new AuthError("the access token is malformed");
        }
        let header: JWSHeaderParameters;
        try {
          header = decodeProtectedHeader(token) as JWSHeaderParameters;
        } catch {
          throw new AuthError("the access token is malformed");
        }
        const alg = header.alg;
        if (header.kid !== undefined && typeof header.kid !== "string") {
          throw new AuthError("the access token's kid must be a string");
        }
        const options = {
          algorithms: [alg as string],
          clockTolerance: CLOCK_TOLERANCE_S,
          requiredClaims: ["exp"],
          issuer,
          audience,
        };
        let payload: JWTPayload;
        if (alg === "HS256") {
          if (hmacKey === undefined) throw new AuthError("HS256 access tokens are not accepted here");
          ({ payload } = await jwtVerify(token, hmacKey, options));
        } else if (typeof alg === "string" && ASYMMETRIC.includes(alg)) {
          if (asymmetric === undefined) throw new AuthError(`${alg} access tokens are not accepted here`);
          ({ payload } = await jwtVerify(token, asymmetric, options));
        } else {
          throw new AuthError("the access token's algorithm is not accepted here (HS256, RS256, ES256 or EdDSA)");
        }
        return identityOf(payload);
      } catch (err) {
        throw err instanceof AuthError ? err : new AuthError(reason(err));
      }
    },
  };
}

/**
 * The access token a request carries: `Authorization: Bearer …`, else `?access_token=` (upgrade). An
 * empty value counts as none. The caller decides where the query form is allowed (the contract allows it
 * on the socket URL, whose plain `GET` mirror answers the same).
 */
export function accessTokenOf(req: Request): string | undefined {
  const header = req.headers.get("authorization");
  if (header !== null) {
    // Whatever follows `Bearer` is the token, even if malformed: it must fail, not fall back to anonymous.
    const m = /^\s*Bearer(?:\s+(.*?))?\s*$/i.exec(header);
    if (m?.[1]) return m[1];
  }
  let query: string | null;
  try {
    query = new URL(req.url).searchParams.get("access_token");
  } catch {
    return undefined;
  }
  return query === null || query === "" ? undefined : query;
}

/** Whether `identity`'s `rooms` claim grants `room` (exact names, or prefixes ending in `*`; absent: all). */
export function roomGranted(identity: Identity, room: string): boolean {
  if (identity.rooms === undefined) return true;
  return identity.rooms.some((r) => (r.endsWith("*") ? room.startsWith(r.slice(0, -1)) : r === room));
}

/** The access step of the check order, for a request to `room`. */
export type Access =
  | { kind: "anonymous" }
  | { kind: "signed"; identity: Identity }
  | { kind: "refused"; status: 401 | 403; code: "unauthorized" | "forbidden"; message: string };

/**
 * The access step of the check order, for a request to `room`: `401 unauthorized` for a missing token
 * when required and for any bad token in `optional` and `required` (never anonymous instead), then
 * `403 forbidden` for a room the token does not grant. `off` ignores tokens.
 */
export async function checkAccess(
  req: Request,
  room: string,
  mode: "off" | "optional" | "required",
  verifier: Verifier | undefined,
): Promise<Access> {
  if (mode === "off") return { kind: "anonymous" };
  const token = accessTokenOf(req);
  if (token === undefined) {
    if (mode === "optional") return { kind: "anonymous" };
    return { kind: "refused", status: 401, code: "unauthorized", message: "an access token is required here" };
  }
  if (verifier === undefined) {
    return { kind: "refused", status: 401, code: "unauthorized", message: "access tokens are not accepted here" };
  }
  let identity: Identity;
  try {
    identity = await verifier.verify(token);
  } catch (err) {
    if (!(err instanceof AuthError)) throw err;
    return { kind: "refused", status: 401, code: "unauthorized", message: err.message };
  }
  if (!roomGranted(identity, room)) {
    return { kind: "refused", status: 403, code: "forbidden", message: "the access token does not grant this room" };
  }
  return { kind: "signed", identity };
}
