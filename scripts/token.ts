/**
 * Print an HS256 access token signed with `PARLEY_JWT_SECRET`, for local use:
 *
 *   PARLEY_JWT_SECRET=… npm run token -- --sub alice --name Alice --role moderator --rooms 'team-*'
 *
 * Options: `--sub` (required), `--name`, `--role member|moderator`, `--rooms a,b,prefix-*` (a comma
 * list; absent: every room), `--ttl` seconds (default 24 h). `iss` and `aud` are taken from
 * `PARLEY_JWT_ISSUER` and `PARLEY_JWT_AUDIENCE` when set (or `--iss`, `--aud`), so the token passes a
 * server started with the same environment. Only the token is printed, on one line.
 */
import { parseArgs } from "node:util";
import { SignJWT } from "jose";
import { JWT_SECRET_MIN_BYTES } from "../src/config.ts";

function fail(message: string): never {
  process.stderr.write(`token: ${message}\n`);
  process.exit(1);
}

let values: Record<string, string | undefined>;
try {
  ({ values } = parseArgs({
    options: {
      sub: { type: "string" },
      name: { type: "string" },
      role: { type: "string" },
      rooms: { type: "string" },
      ttl: { type: "string" },
      iss: { type: "string" },
      aud: { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (err) {
  fail((err as Error).message);
}

const secret = process.env.PARLEY_JWT_SECRET;
if (secret === undefined || secret === "") fail("PARLEY_JWT_SECRET is not set");
if (new TextEncoder().encode(secret).length < JWT_SECRET_MIN_BYTES) {
  fail(`PARLEY_JWT_SECRET must be at least ${JWT_SECRET_MIN_BYTES} bytes`);
}

const sub = values.sub;
if (sub === undefined || sub.length < 1 || sub.length > 64) fail("--sub is required (1–64 characters)");
const role = values.role;
if (role !== undefined && role !== "member" && role !== "moderator") fail("--role must be member or moderator");
const ttlRaw = values.ttl ?? String(24 * 60 * 60);
if (!/^\d{1,9}$/.test(ttlRaw) || Number(ttlRaw) < 1) fail("--ttl must be a whole number of seconds, at least 1");

const claims: Record<string, unknown> = { sub };
if (values.name !== undefined) claims.name = values.name;
if (role !== undefined) claims.role = role;
if (values.rooms !== undefined) {
  claims.rooms = values.rooms
    .split(",")
    .map((r) => r.trim())
    .filter(Boolean);
}

const now = Math.floor(Date.now() / 1000);
const jwt = new SignJWT(claims)
  .setProtectedHeader({ alg: "HS256", typ: "JWT" })
  .setIssuedAt(now)
  .setExpirationTime(now + Number(ttlRaw));
const iss = values.iss ?? (process.env.PARLEY_JWT_ISSUER?.trim() || undefined);
if (iss !== undefined) jwt.setIssuer(iss);
const aud = values.aud ?? (process.env.PARLEY_JWT_AUDIENCE?.trim() || undefined);
if (aud !== undefined) jwt.setAudience(aud);

process.stdout.write(`${await jwt.sign(new TextEncoder().encode(secret))}\n`);
