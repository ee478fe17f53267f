/**
 * Signed access tokens (docs/protocol.md, "Signed access tokens"): the auth variables of `loadConfig`,
 * every refusal of `createVerifier(...).verify` (one test each), the four accepted algorithms, the
 * claims, `roomGranted`, `checkAccess` in each mode, the JWKS URL's cache and cooldown against a local
 * server, and `npm run token`.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, mock, test } from "node:test";
import { promisify } from "node:util";
import {
  type CryptoKey,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type JWK,
  jwtVerify,
  SignJWT,
  UnsecuredJWT,
} from "jose";
import {
  type Access,
  AuthError,
  accessTokenOf,
  checkAccess,
  createVerifier,
  type Identity,
  roomGranted,
  type Verifier,
} from "../../src/auth.ts";
import { ConfigError, EDIT_WINDOW_MS, ENV_NAMES, type Env, loadConfig } from "../../src/config.ts";
import { setupLogging } from "../../src/log.ts";

const SECRET = "test-secret-0123456789-abcdefghijklmnop";
const now = () => Math.floor(Date.now() / 1000);

interface Pair {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}
type Alg = "RS256" | "ES256" | "EdDSA";

async function pair(alg: Alg, kid: string): Promise<Pair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid } };
}

interface SignOpts {
  alg?: string;
  kid?: string;
  /** Seconds from now, or null for no `exp`. */
  exp?: number | null;
  nbf?: number;
  iat?: number;
}

/** A token for `claims` (plus `sub: "alice"` unless given), signed with `key`. */
async function sign(key: CryptoKey | Uint8Array, claims: Record<string, unknown> = {}, opts: SignOpts = {}) {
  const { alg = "HS256", kid, exp = 3600, nbf, iat } = opts;
  const jwt = new SignJWT({ sub: "alice", ...claims }).setProtectedHeader({ alg, ...(kid ? { kid } : {}) });
  if (exp !== null) jwt.setExpirationTime(now() + exp);
  if (nbf !== undefined) jwt.setNotBefore(now() + nbf);
  if (iat !== undefined) jwt.setIssuedAt(now() + iat);
  return jwt.sign(key);
}

const secretKey = new TextEncoder().encode(SECRET);
const hs = (claims: Record<string, unknown> = {}, opts: SignOpts = {}) => sign(secretKey, claims, opts);

function verifierFor(env: Env, fetcher?: typeof fetch): Verifier {
  const v = createVerifier(loadConfig(env), fetcher);
  assert.ok(v, "a verifier");
  return v;
}

/** Asserts `verify` refuses with an AuthError whose message matches and never holds the token. */
async function refuses(v: Verifier, token: string, message: RegExp) {
  await assert.rejects(v.verify(token), (err: unknown) => {
    assert.ok(err instanceof AuthError, `an AuthError, got ${String(err)}`);
    assert.match(err.message, message);
    assert.ok(!err.message.includes(token), "the message never holds the token");
    return true;
  });
}

const jwks = (...keys: JWK[]) => JSON.stringify({ keys });

let rsa: Pair;
let rsa2: Pair;
let ec: Pair;
let ed: Pair;
before(async () => {
  [rsa, rsa2, ec, ed] = await Promise.all([
    pair("RS256", "rsa1"),
    pair("RS256", "rsa2"),
    pair("ES256", "ec1"),
    pair("EdDSA", "ed1"),
  ]);
});

describe("config: auth variables", () => {
  test("defaults: auth off, no keys, a 24 h edit window", () => {
    const c = loadConfig({});
    assert.deepEqual(c.auth, { mode: "off" });
    assert.equal(c.editWindowMs, EDIT_WINDOW_MS);
    assert.equal(EDIT_WINDOW_MS, 24 * 60 * 60 * 1000);
  });

  test("every new variable is in ENV_NAMES (Deno is granted exactly these)", () => {
    for (const name of [
      "PARLEY_AUTH",
      "PARLEY_JWT_SECRET",
      "PARLEY_JWT_PUBLIC_KEYS",
      "PARLEY_JWKS_URL",
      "PARLEY_JWT_ISSUER",
      "PARLEY_JWT_AUDIENCE",
      "PARLEY_EDIT_WINDOW_MS",
    ]) {
      assert.ok((ENV_NAMES as readonly string[]).includes(name), name);
    }
  });

  test("any key makes the default mode optional", () => {
    assert.equal(loadConfig({ PARLEY_JWT_SECRET: SECRET }).auth.mode, "optional");
    assert.equal(loadConfig({ PARLEY_JWT_PUBLIC_KEYS: jwks(rsa.jwk) }).auth.mode, "optional");
    assert.equal(loadConfig({ PARLEY_JWKS_URL: "https://id.example/jwks.json" }).auth.mode, "optional");
    assert.equal(loadConfig({ PARLEY_JWT_SECRET: SECRET, PARLEY_AUTH: "off" }).auth.mode, "off");
    assert.equal(loadConfig({ PARLEY_JWT_SECRET: SECRET, PARLEY_AUTH: " Required " }).auth.mode, "required");
  });

  test("all values read", () => {
    const c = loadConfig({
      PARLEY_JWT_SECRET: SECRET,
      PARLEY_JWT_PUBLIC_KEYS: jwks(rsa.jwk, ec.jwk),
      PARLEY_JWKS_URL: "https://id.example/.well-known/jwks.json",
      PARLEY_JWT_ISSUER: " https://id.example ",
      PARLEY_JWT_AUDIENCE: "parley",
      PARLEY_EDIT_WINDOW_MS: "0",
    });
    assert.equal(c.auth.secret, SECRET);
    assert.deepEqual(c.auth.publicKeys, { keys: [rsa.jwk, ec.jwk] });
    assert.equal(c.auth.jwksUrl, "https://id.example/.well-known/jwks.json");
    assert.equal(c.auth.issuer, "https://id.example");
    assert.equal(c.auth.audience, "parley");
    assert.equal(c.editWindowMs, 0);
  });

  test("required with no key, or an unknown mode, is a ConfigError naming PARLEY_AUTH", () => {
    assert.throws(
      () => loadConfig({ PARLEY_AUTH: "required" }),
      (e: unknown) => {
        return e instanceof ConfigError && e.message.includes("PARLEY_AUTH");
      },
    );
    assert.throws(() => loadConfig({ PARLEY_AUTH: "optional" }), ConfigError);
    assert.throws(() => loadConfig({ PARLEY_AUTH: "yes", PARLEY_JWT_SECRET: SECRET }), /PARLEY_AUTH/);
  });

  test("a short secret, or a key given as the secret, is refused without quoting it", () => {
    const short = "s3cr3t-but-short-31-bytes-xxxxx";
    assert.equal(short.length, 31);
    for (const secret of [
      short,
      "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n",
      jwks(),
    ]) {
      assert.throws(
        () => loadConfig({ PARLEY_JWT_SECRET: secret }),
        (e: unknown) => e instanceof ConfigError && /PARLEY_JWT_SECRET/.test(e.message) && !e.message.includes(secret),
      );
    }
    // 32 bytes of UTF-8 is enough, however few characters.
    assert.equal(loadConfig({ PARLEY_JWT_SECRET: "é".repeat(16) }).auth.secret, "é".repeat(16));
  });

  test("a bad PARLEY_JWT_PUBLIC_KEYS is refused without quoting it", async () => {
    const priv = { ...(await exportJWK(rsa.privateKey)), kid: "p" };
    const bad = [
      "not json",
      "[]",
      "null",
      '{"keys":{}}',
      '{"keys":[]}',
      '{"keys":[1]}',
      jwks({ kty: "oct", k: "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA" }),
      jwks(priv),
      jwks({ ...rsa.jwk, alg: "HS256" }),
      jwks({ ...rsa.jwk, kid: 7 as unknown as string }),
    ];
    for (const value of bad) {
      assert.throws(
        () => loadConfig({ PARLEY_JWT_PUBLIC_KEYS: value }),
        (e: unknown) =>
          e instanceof ConfigError && /PARLEY_JWT_PUBLIC_KEYS/.test(e.message) && !e.message.includes(value),
        value,
      );
    }
    assert.throws(() => loadConfig({ PARLEY_JWT_PUBLIC_KEYS: jwks(priv) }), /private/);
  });

  test("PARLEY_JWKS_URL: https:, or http: on a loopback host only", () => {
    for (const ok of ["https://id.example/jwks", "http://127.0.0.1:9999/jwks", "http://localhost/jwks"]) {
      assert.equal(loadConfig({ PARLEY_JWKS_URL: ok }).auth.jwksUrl, ok);
    }
    for (const bad of ["http://id.example/jwks", "ftp://id.example/jwks", "jwks.json", "https://u:p@id.example/"]) {
      assert.throws(
        () => loadConfig({ PARLEY_JWKS_URL: bad }),
        (e: unknown) => e instanceof ConfigError && /PARLEY_JWKS_URL/.test(e.message) && !e.message.includes(bad),
        bad,
      );
    }
  });

  test("PARLEY_EDIT_WINDOW_MS must be a whole number ≥ 0", () => {
    assert.equal(loadConfig({ PARLEY_EDIT_WINDOW_MS: "60000" }).editWindowMs, 60_000);
    for (const bad of ["-1", "1.5", "soon"]) {
      assert.throws(() => loadConfig({ PARLEY_EDIT_WINDOW_MS: bad }), ConfigError);
    }
  });

  test("mode off builds no verifier", () => {
    assert.equal(createVerifier(loadConfig({})), undefined);
    assert.equal(createVerifier(loadConfig({ PARLEY_JWT_SECRET: SECRET, PARLEY_AUTH: "off" })), undefined);
  });
});

describe("verify: refusals", () => {
  let v: Verifier;
  before(() => {
    v = verifierFor({
      PARLEY_JWT_SECRET: SECRET,
      PARLEY_JWT_PUBLIC_KEYS: jwks(rsa.jwk, ec.jwk, ed.jwk),
    });
  });

  test("alg: none", async () => {
    const token = new UnsecuredJWT({ sub: "alice" }).setExpirationTime("1h").encode();
    await refuses(v, token, /algorithm/);
    // The same with a signature part glued on, and with the alg in other cases.
    const [h, p] = token.split(".");
    await refuses(v, `${h}.${p}.${Buffer.from("sig").toString("base64url")}`, /algorithm/);
    const upper = Buffer.from(JSON.stringify({ alg: "NONE" })).toString("base64url");
    await refuses(v, `${upper}.${p}.`, /algorithm/);
  });

  test("algorithm confusion: HS256 signed with the public key's bytes, key configured in a JWKS", async () => {
    const onlyKeys = verifierFor({ PARLEY_JWT_PUBLIC_KEYS: jwks(rsa.jwk, ec.jwk) });
    for (const pub of [rsa, ec]) {
      const pem = new TextEncoder().encode(await exportSPKI(pub.publicKey));
      const jwkBytes = new TextEncoder().encode(JSON.stringify(pub.jwk));
      for (const forged of [pem, jwkBytes]) {
        for (const kid of [undefined, pub.jwk.kid]) {
          const token = await sign(forged, {}, { alg: "HS256", kid });
          await refuses(onlyKeys, token, /HS256 access tokens are not accepted here/);
          // With a secret configured too, the forgery is checked against the secret, and fails.
          await refuses(v, token, /signature/);
        }
      }
    }
  });

  test("jose itself refuses HS256 keyed with a public key", async () => {
    const pem = new TextEncoder().encode(await exportSPKI(rsa.publicKey));
    const token = await sign(pem, {}, { alg: "HS256" });
    await assert.rejects(jwtVerify(token, rsa.publicKey));
    await assert.rejects(jwtVerify(token, rsa.publicKey, { algorithms: ["HS256"] }));
  });

  test("an algorithm outside the four, even with a matching key type", async () => {
    await refuses(v, await sign(secretKey, {}, { alg: "HS512" }), /algorithm/);
    const rs384 = await generateKeyPair("RS384", { extractable: true });
    const keyed = verifierFor({ PARLEY_JWT_PUBLIC_KEYS: jwks({ ...(await exportJWK(rs384.publicKey)), kid: "r" }) });
    const token = await sign(rs384.privateKey, {}, { alg: "RS384", kid: "r" });
    await refuses(keyed, token, /algorithm/);
    await refuses(keyed, await sign(rs384.privateKey, {}, { alg: "RS384" }), /algorithm/);
  });

  test("a key of the wrong type for the alg (ES256 header, RSA kid)", async () => {
    const token = await sign(ec.privateKey, {}, { alg: "ES256", kid: "rsa1" });
    await refuses(v, token, /kid is not known/);
  });

  test("expired (beyond the 30 s tolerance)", async () => {
    await refuses(v, await hs({}, { exp: -31 }), /expired/);
    await refuses(v, await sign(ec.privateKey, {}, { alg: "ES256", kid: "ec1", exp: -3600 }), /expired/);
  });

  test("no exp", async () => {
    await refuses(v, await hs({}, { exp: null }), /"exp"/);
  });

  test("not yet valid (nbf beyond the 30 s tolerance)", async () => {
    await refuses(v, await hs({}, { nbf: 60 }), /not valid yet/);
  });

  test("issued in the future (iat beyond the 30 s tolerance)", async () => {
    await refuses(v, await hs({}, { iat: 120 }), /future/);
  });

  test("wrong iss, and a missing iss, when PARLEY_JWT_ISSUER is set", async () => {
    const strict = verifierFor({ PARLEY_JWT_SECRET: SECRET, PARLEY_JWT_ISSUER: "https://id.example" });
    await refuses(strict, await hs({ iss: "https://evil.example" }), /issuer/);
    await refuses(strict, await hs(), /"iss"/);
    assert.equal((await strict.verify(await hs({ iss: "https://id.example" }))).sub, "alice");
  });

  test("wrong aud, and a missing aud, when PARLEY_JWT_AUDIENCE is set", async () => {
    const strict = verifierFor({ PARLEY_JWT_SECRET: SECRET, PARLEY_JWT_AUDIENCE: "parley" });
    await refuses(strict, await hs({ aud: "other" }), /audience/);
    await refuses(strict, await hs({ aud: ["other", "more"] }), /audience/);
    await refuses(strict, await hs(), /"aud"/);
    assert.equal((await strict.verify(await hs({ aud: ["other", "parley"] }))).sub, "alice");
  });

  test("a kid not in the set", async () => {
    await refuses(v, await sign(rsa2.privateKey, {}, { alg: "RS256", kid: "rsa2" }), /kid is not known/);
    // Signed by a key that is not configured, under a configured kid: the signature fails.
    await refuses(v, await sign(rsa2.privateKey, {}, { alg: "RS256", kid: "rsa1" }), /signature/);
  });

  test("no kid, with two keys that fit its alg", async () => {
    const two = verifierFor({ PARLEY_JWT_PUBLIC_KEYS: jwks(rsa.jwk, rsa2.jwk, ec.jwk) });
    await refuses(two, await sign(rsa.privateKey, {}, { alg: "RS256" }), /no kid and more than one key/);
    // With a kid, each is found; without one, the single EC key is.
    assert.equal((await two.verify(await sign(rsa2.privateKey, {}, { alg: "RS256", kid: "rsa2" }))).sub, "alice");
    assert.equal((await two.verify(await sign(ec.privateKey, {}, { alg: "ES256" }))).sub, "alice");
  });

  test("no kid, with no key that fits its alg", async () => {
    const onlyRsa = verifierFor({ PARLEY_JWT_PUBLIC_KEYS: jwks(rsa.jwk) });
    await refuses(onlyRsa, await sign(ed.privateKey, {}, { alg: "EdDSA" }), /no key here fits/);
  });

  test("a bad signature", async () => {
    const token = await hs();
    const [h, p, s] = token.split(".");
    const flipped = `${h}.${p}.${s[0] === "A" ? "B" : "A"}${s.slice(1)}`;
    await refuses(v, flipped, /signature/);
    const other = await sign(new TextEncoder().encode(`${SECRET}x`));
    await refuses(v, other, /signature/);
  });

  test("malformed tokens", async () => {
    for (const token of ["", "abc", "a.b.c", "a.b", `${"x".repeat(9000)}.y.z`]) {
      await assert.rejects(v.verify(token), AuthError);
    }
  });

  test("missing sub, and a sub that is not 1–64 characters", async () => {
    await refuses(v, await hs({ sub: undefined }), /"sub"/);
    await refuses(v, await hs({ sub: "" }), /"sub"/);
    await refuses(v, await hs({ sub: "x".repeat(65) }), /"sub"/);
    await refuses(v, await hs({ sub: 42 }), /"sub"/);
  });

  test("a name that breaks the name rules", async () => {
    for (const name of ["", "   ", "x".repeat(33), "bad\u0007bell", "rtl\u202eevil", "zero\u200bwidth", 7]) {
      await refuses(v, await hs({ name }), /"name"/);
    }
  });

  test("a bad role", async () => {
    for (const role of ["admin", "Moderator", "", 1, null]) {
      await refuses(v, await hs({ role }), /"role"/);
    }
  });

  test("a rooms claim that is not a list of strings", async () => {
    for (const rooms of ["team-*", [1], [null], { a: 1 }]) {
      await refuses(v, await hs({ rooms }), /"rooms"/);
    }
  });

  test("an asymmetric token when only a secret is configured", async () => {
    const secretOnly = verifierFor({ PARLEY_JWT_SECRET: SECRET });
    await refuses(secretOnly, await sign(ec.privateKey, {}, { alg: "ES256", kid: "ec1" }), /not accepted here/);
  });
});

describe("verify: accepted", () => {
  let v: Verifier;
  before(() => {
    v = verifierFor({ PARLEY_JWT_SECRET: SECRET, PARLEY_JWT_PUBLIC_KEYS: jwks(rsa.jwk, ec.jwk, ed.jwk) });
  });

  test("HS256", async () => {
    const id = await v.verify(await hs({ name: "Alice", role: "moderator", rooms: ["team-*"] }));
    assert.deepEqual(id, { sub: "alice", name: "Alice", role: "moderator", rooms: ["team-*"] });
  });

  for (const [alg, which] of [
    ["RS256", () => rsa],
    ["ES256", () => ec],
    ["EdDSA", () => ed],
  ] as const) {
    test(`${alg}, with its kid and without one (one key of the alg)`, async () => {
      const p = which();
      for (const kid of [p.jwk.kid, undefined]) {
        const id = await v.verify(await sign(p.privateKey, { name: "Bob" }, { alg, kid }));
        assert.deepEqual(id, { sub: "alice", name: "Bob", role: "member" });
      }
    });
  }

  test("30 s of clock skew: just expired, not quite valid yet, issued a moment ahead", async () => {
    assert.equal((await v.verify(await hs({}, { exp: -20 }))).sub, "alice");
    assert.equal((await v.verify(await hs({}, { nbf: 20 }))).sub, "alice");
    assert.equal((await v.verify(await hs({}, { iat: 20 }))).sub, "alice");
  });

  test("the name: normalized as checkName does; the sub when absent, cut to 32", async () => {
    assert.equal((await v.verify(await hs({ name: "  Cafe\u0301  " }))).name, "Café");
    assert.equal((await v.verify(await hs({ sub: "user-7" }))).name, "user-7");
    const long = "google-oauth2|123456789012345678901";
    const id = await v.verify(await hs({ sub: long }));
    assert.equal(id.sub, long);
    assert.equal(id.name, long.slice(0, 32));
    assert.equal((await v.verify(await hs({ sub: "x".repeat(64) }))).sub.length, 64);
  });

  test("an HS256 token's kid is not consulted (the secret is the only HS256 key)", async () => {
    assert.equal((await v.verify(await hs({}, { kid: "whatever" }))).sub, "alice");
  });
});

describe("roomGranted", () => {
  const who = (rooms?: string[]): Identity => ({ sub: "a", name: "a", role: "member", ...(rooms ? { rooms } : {}) });
  test("exact names", () => {
    assert.equal(roomGranted(who(["lobby", "team-a"]), "lobby"), true);
    assert.equal(roomGranted(who(["lobby", "team-a"]), "team-a"), true);
    assert.equal(roomGranted(who(["lobby"]), "lobby2"), false);
    assert.equal(roomGranted(who(["lobby"]), "Lobby"), false);
  });
  test("prefixes ending in *", () => {
    assert.equal(roomGranted(who(["team-*"]), "team-a"), true);
    assert.equal(roomGranted(who(["team-*"]), "team-"), true);
    assert.equal(roomGranted(who(["team-*"]), "team"), false);
    assert.equal(roomGranted(who(["team-*"]), "other"), false);
    assert.equal(roomGranted(who(["*"]), "anything"), true);
    assert.equal(roomGranted(who(["te*m"]), "team"), false);
  });
  test("absent: every room; empty: none", () => {
    assert.equal(roomGranted(who(), "anything"), true);
    assert.equal(roomGranted(who([]), "anything"), false);
  });
});

describe("accessTokenOf", () => {
  const url = "http://h/rooms/r/ws";
  test("Authorization: Bearer, before ?access_token=", () => {
    assert.equal(accessTokenOf(new Request(url, { headers: { authorization: "Bearer abc.def.ghi" } })), "abc.def.ghi");
    assert.equal(accessTokenOf(new Request(url, { headers: { authorization: "bearer  x " } })), "x");
    const both = new Request(`${url}?access_token=q`, { headers: { authorization: "Bearer h" } });
    assert.equal(accessTokenOf(both), "h");
    assert.equal(accessTokenOf(new Request(`${url}?access_token=q.r.s`)), "q.r.s");
    // A malformed Bearer value is still the token (to be refused), never "no token".
    assert.equal(accessTokenOf(new Request(url, { headers: { authorization: "Bearer a b" } })), "a b");
  });
  test("none, an empty one, or another scheme", () => {
    assert.equal(accessTokenOf(new Request(url)), undefined);
    assert.equal(accessTokenOf(new Request(`${url}?access_token=`)), undefined);
    assert.equal(accessTokenOf(new Request(url, { headers: { authorization: "Basic dTpw" } })), undefined);
    assert.equal(accessTokenOf(new Request(url, { headers: { authorization: "Bearer " } })), undefined);
  });
});

describe("checkAccess in each mode", () => {
  let good: string;
  let notGranted: string;
  let v: Verifier;
  before(async () => {
    v = verifierFor({ PARLEY_JWT_SECRET: SECRET });
    good = await hs({ name: "Alice", rooms: ["lobby"] });
    notGranted = await hs({ rooms: ["elsewhere-*"] });
  });
  const req = (token?: string, via: "header" | "query" = "header") => {
    if (token === undefined) return new Request("http://h/rooms/lobby/ws");
    if (via === "query") return new Request(`http://h/rooms/lobby/ws?access_token=${encodeURIComponent(token)}`);
    return new Request("http://h/rooms/lobby/ws", { headers: { authorization: `Bearer ${token}` } });
  };
  const bad = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.bm9wZQ";
  const refused = (status: 401 | 403): Partial<Access> => ({
    kind: "refused",
    status,
    code: status === 401 ? "unauthorized" : "forbidden",
  });
  const kindOf = (a: Access) =>
    a.kind === "refused" ? { kind: a.kind, status: a.status, code: a.code } : { kind: a.kind };

  test("off: always anonymous, tokens ignored", async () => {
    for (const token of [undefined, bad, good, notGranted]) {
      assert.deepEqual(await checkAccess(req(token), "lobby", "off", undefined), { kind: "anonymous" });
      assert.deepEqual(await checkAccess(req(token), "lobby", "off", v), { kind: "anonymous" });
    }
  });

  test("optional: none → anonymous, bad → 401 (never anonymous), good → signed, not granted → 403", async () => {
    assert.deepEqual(await checkAccess(req(), "lobby", "optional", v), { kind: "anonymous" });
    assert.deepEqual(kindOf(await checkAccess(req(bad), "lobby", "optional", v)), refused(401));
    assert.deepEqual(kindOf(await checkAccess(req(bad, "query"), "lobby", "optional", v)), refused(401));
    const signed = await checkAccess(req(good, "query"), "lobby", "optional", v);
    assert.deepEqual(signed, {
      kind: "signed",
      identity: { sub: "alice", name: "Alice", role: "member", rooms: ["lobby"] },
    });
    assert.deepEqual(kindOf(await checkAccess(req(notGranted), "lobby", "optional", v)), refused(403));
  });

  test("required: none → 401, bad → 401, good → signed, not granted → 403", async () => {
    const none = await checkAccess(req(), "lobby", "required", v);
    assert.deepEqual(kindOf(none), refused(401));
    assert.deepEqual(kindOf(await checkAccess(req(bad), "lobby", "required", v)), refused(401));
    assert.equal((await checkAccess(req(good), "lobby", "required", v)).kind, "signed");
    const forbidden = await checkAccess(req(notGranted), "lobby", "required", v);
    assert.deepEqual(kindOf(forbidden), refused(403));
    assert.ok(forbidden.kind === "refused" && !forbidden.message.includes(notGranted));
  });

  test("an expired token is 401 in optional and required, with a message that names why", async () => {
    const expired = await hs({}, { exp: -3600 });
    for (const mode of ["optional", "required"] as const) {
      const a = await checkAccess(req(expired), "lobby", mode, v);
      assert.ok(a.kind === "refused" && a.status === 401 && /expired/.test(a.message) && !a.message.includes(expired));
    }
  });
});

describe("PARLEY_JWKS_URL", () => {
  let server: Server;
  let base: string;
  let served: { status: number; body: string };
  let requests = 0;
  before(async () => {
    server = createServer((_req, res) => {
      requests++;
      res.writeHead(served.status, { "content-type": "application/json" });
      res.end(served.body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** A fresh verifier on the local server, serving `keys`, with Date mocked from now. */
  function start(keys: JWK[], path: string) {
    served = { status: 200, body: jwks(...keys) };
    requests = 0;
    mock.timers.enable({ apis: ["Date"], now: Date.now() });
    return verifierFor({ PARLEY_JWKS_URL: `${base}${path}` });
  }

  test("fetched once for many verifications, again on an unknown kid after a minute (rotation)", async (t) => {
    t.after(() => mock.timers.reset());
    const v = start([ec.jwk], "/rotate");
    const ecToken = await sign(ec.privateKey, {}, { alg: "ES256", kid: "ec1" });
    for (let i = 0; i < 20; i++) assert.equal((await v.verify(ecToken)).sub, "alice");
    assert.equal(requests, 1, "cached after the first fetch");

    // The provider rotates in a new key.
    served.body = jwks(ec.jwk, ed.jwk);
    const edToken = await sign(ed.privateKey, {}, { alg: "EdDSA", kid: "ed1" });
    // Within a minute of the last fetch an unknown kid does not fetch: it is refused.
    await refuses(v, edToken, /kid is not known/);
    assert.equal(requests, 1, "no refetch within the cooldown");
    mock.timers.tick(61_000);
    assert.equal((await v.verify(edToken)).sub, "alice");
    assert.equal(requests, 2, "an unknown kid after a minute fetches again, and finds the new key");
    assert.equal((await v.verify(ecToken)).sub, "alice");
    assert.equal(requests, 2);
  });

  test("repeated unknown kids fetch at most once a minute", async (t) => {
    t.after(() => mock.timers.reset());
    const v = start([ec.jwk], "/unknown");
    await v.verify(await sign(ec.privateKey, {}, { alg: "ES256", kid: "ec1" }));
    assert.equal(requests, 1);
    const unknown = (i: number) => sign(ec.privateKey, {}, { alg: "ES256", kid: `nope-${i}` });
    for (let i = 0; i < 30; i++) await refuses(v, await unknown(i), /kid is not known/);
    assert.equal(requests, 1, "within the first minute: no refetch");
    mock.timers.tick(30_000);
    for (let i = 0; i < 30; i++) await refuses(v, await unknown(i), /kid is not known/);
    assert.equal(requests, 1, "30 s later: still none");
    mock.timers.tick(31_000);
    for (let i = 0; i < 30; i++) await refuses(v, await unknown(i), /kid is not known/);
    assert.equal(requests, 2, "after a minute: exactly one");
    mock.timers.tick(61_000);
    await Promise.all(Array.from({ length: 20 }, async (_, i) => refuses(v, await unknown(i), /kid is not known/)));
    assert.equal(requests, 3, "concurrent unknown kids share one fetch");
  });

  test("a failing JWKS URL is tried at most once a minute too", async (t) => {
    t.after(() => mock.timers.reset());
    const logged: string[] = [];
    setupLogging("warn", "json", (line) => logged.push(line));
    t.after(() => setupLogging("info", "json", () => {}));
    const v = start([ec.jwk], "/failing");
    served.status = 500;
    const ecToken = await sign(ec.privateKey, {}, { alg: "ES256", kid: "ec1" });
    for (let i = 0; i < 10; i++) await refuses(v, ecToken, /could not be fetched/);
    assert.equal(requests, 1);
    assert.deepEqual(
      logged.map((l) => JSON.parse(l).event),
      ["jwks_fetch_failed"],
      "the failure is logged once",
    );
    assert.ok(!String(logged[0]).includes(base), "the URL is not logged");
    served.status = 200;
    served.body = "not json";
    mock.timers.tick(61_000);
    for (let i = 0; i < 10; i++) await refuses(v, ecToken, /could not be fetched/);
    assert.equal(requests, 2, "a body that is not JSON is a failure too");
    served.body = jwks(ec.jwk);
    mock.timers.tick(61_000);
    assert.equal((await v.verify(ecToken)).sub, "alice");
    assert.equal(requests, 3);
  });

  test("fetched keys expire after 10 minutes, so a removed key stops working", async (t) => {
    t.after(() => mock.timers.reset());
    const v = start([ec.jwk, ed.jwk], "/expiry");
    const edToken = await sign(ed.privateKey, {}, { alg: "EdDSA", kid: "ed1" });
    assert.equal((await v.verify(edToken)).sub, "alice");
    served.body = jwks(ec.jwk);
    mock.timers.tick(9 * 60_000);
    assert.equal((await v.verify(edToken)).sub, "alice");
    assert.equal(requests, 1);
    mock.timers.tick(2 * 60_000);
    await refuses(v, edToken, /kid is not known/);
    assert.equal(requests, 2);
  });

  test("the fetcher passed to createVerifier is the one used; inline keys never wait on it", async () => {
    let calls = 0;
    // A cast: with Bun's types loaded, `typeof fetch` also demands Bun's `preconnect`.
    const fetcher = (async (input: RequestInfo | URL, init?: RequestInit) => {
      calls++;
      return fetch(input, init);
    }) as typeof fetch;
    served = { status: 200, body: jwks(ed.jwk) };
    const v = verifierFor(
      { PARLEY_JWKS_URL: `${base}/custom`, PARLEY_JWT_PUBLIC_KEYS: jwks(ec.jwk), PARLEY_JWT_SECRET: SECRET },
      fetcher,
    );
    assert.equal((await v.verify(await sign(ec.privateKey, {}, { alg: "ES256", kid: "ec1" }))).sub, "alice");
    assert.equal((await v.verify(await hs())).sub, "alice");
    assert.equal(calls, 0);
    assert.equal((await v.verify(await sign(ed.privateKey, {}, { alg: "EdDSA", kid: "ed1" }))).sub, "alice");
    assert.equal(calls, 1);
    // Without a kid, ES256 counts the keys of both sets: one inline, none fetched.
    assert.equal((await v.verify(await sign(ec.privateKey, {}, { alg: "ES256" }))).sub, "alice");
  });
});

describe("npm run token", () => {
  const run = promisify(execFile);
  const script = ["--import", "tsx", "scripts/token.ts"];
  test("prints one HS256 token with the claims asked for, valid for 24 h by default", async () => {
    const env = { ...process.env, PARLEY_JWT_SECRET: SECRET, PARLEY_JWT_ISSUER: "", PARLEY_JWT_AUDIENCE: "" };
    const args = [...script, "--sub", "alice", "--name", "Alice", "--role", "moderator", "--rooms", "team-*, lobby"];
    const { stdout } = await run(process.execPath, args, { env });
    assert.match(stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const token = stdout.trim();
    const id = await verifierFor({ PARLEY_JWT_SECRET: SECRET }).verify(token);
    assert.deepEqual(id, { sub: "alice", name: "Alice", role: "moderator", rooms: ["team-*", "lobby"] });
    const { payload } = await jwtVerify(token, secretKey);
    assert.ok(Math.abs((payload.exp ?? 0) - now() - 24 * 3600) < 60);
    const short = await run(process.execPath, [...script, "--sub", "bob", "--ttl", "3600"], { env });
    const { payload: p2 } = await jwtVerify(short.stdout.trim(), secretKey);
    assert.ok(Math.abs((p2.exp ?? 0) - now() - 3600) < 60);
  });

  test("exits 1 without a usable secret", async () => {
    for (const secret of [undefined, "too-short"]) {
      const env: NodeJS.ProcessEnv = { ...process.env };
      delete env.PARLEY_JWT_SECRET;
      if (secret) env.PARLEY_JWT_SECRET = secret;
      await assert.rejects(run(process.execPath, [...script, "--sub", "alice"], { env }), (err: unknown) => {
        const e = err as { code: number; stdout: string; stderr: string };
        assert.equal(e.code, 1);
        assert.equal(e.stdout, "");
        assert.match(e.stderr, /PARLEY_JWT_SECRET/);
        return true;
      });
    }
  });
});
