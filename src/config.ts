/**
 * Environment → configuration. The variable names are the same on every runtime
 * (process env on Node/Deno/Bun, `[vars]` on Workers); see docs/protocol.md, "Defaults".
 */

import type { JWK } from "jose";
import { type LogFormat, type LogLevelName, logSettings } from "./log.ts";
import { DEFAULTS, TYPING_INTERVAL_MS } from "./protocol/constants.ts";

/** `PARLEY_AUTH`: whether access tokens are ignored (`off`), accepted, or needed to join and read. */
export type AuthMode = "off" | "optional" | "required";

/** How access tokens are verified (docs/protocol.md, "Signed access tokens"); see `src/auth.ts`. */
export interface AuthConfig {
  mode: AuthMode;
  /** `PARLEY_JWT_SECRET`: the HS256 key, as given (at least 32 bytes of UTF-8). Never log it. */
  secret?: string;
  /** `PARLEY_JWT_PUBLIC_KEYS`: an inline JWKS of public RSA, EC and OKP keys. */
  publicKeys?: { keys: JWK[] };
  /** `PARLEY_JWKS_URL`: an https: URL (http: only on a loopback host, for tests and local use). */
  jwksUrl?: string;
  /** `PARLEY_JWT_ISSUER`: the `iss` a token must carry, when set. */
  issuer?: string;
  /** `PARLEY_JWT_AUDIENCE`: the `aud` a token must carry (or list), when set. */
  audience?: string;
}

export interface Config {
  port: number;
  /** The address to listen on (`HOST`). */
  listenAddress: string;
  db: string;
  maxFrameBytes: number;
  maxText: number;
  rateBurst: number;
  ratePerSec: number;
  maxMembers: number;
  maxStrikes: number;
  /** Strikes are counted within this window. */
  strikeWindowMs: number;
  maxConnectionsPerIp: number;
  /** `*` allows any origin. */
  allowedOrigins: string[];
  /** Host names (with or without a port) a request may name besides the loopback ones. */
  allowedHosts: string[];
  /** Which `X-Forwarded-For` entry, counted from the right, is the client address; 0: the peer address. */
  trustProxy: number;
  /** Frames per connection, of every type: the bucket's size and refill. */
  frameBurst: number;
  framePerSec: number;
  /** Connection attempts per address group: the bucket's size and refill. */
  connectBurst: number;
  connectPerSec: number;
  /** Anonymous users per address group in one room. */
  maxMembersPerIp: number;
  /** How long after its last connection closed an anonymous user who never posted is forgotten. */
  guestTtlMs: number;
  /** A room with at least this many users is big: its v2 presence is batched (docs/protocol.md, "Big rooms"). */
  largeRoom: number;
  /** How often a big room sends its v2 members the joins and leaves since the last time. */
  presenceMs: number;
  idleTimeoutMs: number;
  maxQueueBytes: number;
  historyLimit: number;
  /** How many messages a fresh `welcome` carries, and the most a resume may replay. */
  welcomeMessages: number;
  resumeWindow: number;
  typingIntervalMs: number;
  /** Signed access tokens: the mode and the keys. */
  auth: AuthConfig;
  /** How long after a message its author may still edit it (`PARLEY_EDIT_WINDOW_MS`). */
  editWindowMs: number;
  /** The backend API's key (`PARLEY_API_KEY`); the API answers 404 without one. */
  apiKey?: string;
  /** Webhooks: where every entry is delivered, the signing secret, and the first retry's delay. */
  webhook?: { url: string; secret: string; retryMs: number };
  /** `PARLEY_LOG_LEVEL` and `PARLEY_LOG_FORMAT` (src/log.ts). */
  logLevel: LogLevelName;
  logFormat: LogFormat;
  /** `PARLEY_METRICS_TOKEN`: the Bearer token `/metrics` asks for; without one it answers only on loopback. */
  metricsToken?: string;
}

export type Env = Record<string, string | undefined>;

/** Every variable Parley reads (Deno is granted exactly these). */
export const ENV_NAMES = [
  "PORT",
  "HOST",
  "PARLEY_DB",
  "PARLEY_MAX_FRAME_BYTES",
  "PARLEY_MAX_TEXT",
  "PARLEY_RATE_BURST",
  "PARLEY_RATE_PER_SEC",
  "PARLEY_MAX_MEMBERS",
  "PARLEY_MAX_STRIKES",
  "PARLEY_MAX_CONNECTIONS_PER_IP",
  "PARLEY_ALLOWED_ORIGINS",
  "PARLEY_TRUST_PROXY",
  "PARLEY_IDLE_TIMEOUT_MS",
  "PARLEY_MAX_QUEUE_BYTES",
  "PARLEY_HISTORY_LIMIT",
  "PARLEY_ALLOWED_HOSTS",
  "PARLEY_FRAME_BURST",
  "PARLEY_FRAME_PER_SEC",
  "PARLEY_CONNECT_BURST",
  "PARLEY_CONNECT_PER_SEC",
  "PARLEY_MAX_MEMBERS_PER_IP",
  "PARLEY_GUEST_TTL_MS",
  "PARLEY_LARGE_ROOM",
  "PARLEY_PRESENCE_MS",
  "PARLEY_AUTH",
  "PARLEY_JWT_SECRET",
  "PARLEY_JWT_PUBLIC_KEYS",
  "PARLEY_JWKS_URL",
  "PARLEY_JWT_ISSUER",
  "PARLEY_JWT_AUDIENCE",
  "PARLEY_EDIT_WINDOW_MS",
  "PARLEY_API_KEY",
  "PARLEY_WEBHOOK_URL",
  "PARLEY_WEBHOOK_SECRET",
  "PARLEY_WEBHOOK_RETRY_MS",
  "PARLEY_LOG_LEVEL",
  "PARLEY_LOG_FORMAT",
  "PARLEY_METRICS_TOKEN",
] as const;

/** The default of `PARLEY_EDIT_WINDOW_MS`: 24 hours. */
export const EDIT_WINDOW_MS = 24 * 60 * 60 * 1000;

/** The shortest `PARLEY_JWT_SECRET`, in bytes (RFC 7518 §3.2: an HS256 key at least as long as its hash). */
export const JWT_SECRET_MIN_BYTES = 32;

/** Thrown for a variable that is set but not usable, so a server refuses to start with a clear message. */
export class ConfigError extends Error {}

function int(env: Env, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return Number(raw);
}

function num(env: Env, name: string, fallback: number): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || !(n > 0)) throw new ConfigError(`${name} must be a positive number, got "${raw}"`);
  return n;
}

/** A comma list, trimmed, empty entries dropped. */
function list(env: Env, name: string): string[] {
  return (env[name] ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * `PARLEY_TRUST_PROXY`: how many proxies of yours stand in front (N, the N-th `X-Forwarded-For` entry
 * from the right). v1 took it as a flag; `true`, `yes` and `on` still mean one proxy, `false`, `no` and
 * `off` none.
 */
function proxies(env: Env): number {
  const raw = env.PARLEY_TRUST_PROXY?.trim().toLowerCase();
  if (raw === undefined || raw === "" || raw === "false" || raw === "no" || raw === "off") return 0;
  if (raw === "true" || raw === "yes" || raw === "on") return 1;
  return int(env, "PARLEY_TRUST_PROXY", 0, 0, 64);
}

/** The key types a JWKS may hold: RS256 (RSA), ES256 (EC P-256) and EdDSA (OKP Ed25519). */
const PUBLIC_KTY = ["RSA", "EC", "OKP"];
/** JWK members that only a private or secret key has. */
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/** `PARLEY_JWT_PUBLIC_KEYS`: a JWKS document of public keys. Messages never quote the value. */
function publicKeys(env: Env): { keys: JWK[] } | undefined {
  const raw = env.PARLEY_JWT_PUBLIC_KEYS?.trim();
  if (raw === undefined || raw === "") return undefined;
  const bad = (why: string) => new ConfigError(`PARLEY_JWT_PUBLIC_KEYS ${why}`);
  let doc: unknown;
  try {
    doc = JSON.parse(raw);
  } catch {
    throw bad('must be a JSON Web Key Set ({"keys":[…]}); it is not JSON');
  }
  const keys = (doc as { keys?: unknown } | null)?.keys;
  if (typeof doc !== "object" || doc === null || Array.isArray(doc) || !Array.isArray(keys) || keys.length === 0) {
    throw bad('must be a JSON Web Key Set: an object with a non-empty "keys" array');
  }
  keys.forEach((key: unknown, i) => {
    if (typeof key !== "object" || key === null || Array.isArray(key)) throw bad(`key ${i} is not an object`);
    const k = key as Record<string, unknown>;
    if (typeof k.kty !== "string" || !PUBLIC_KTY.includes(k.kty)) {
      throw bad(`key ${i}: "kty" must be RSA, EC or OKP (RS256, ES256, EdDSA)`);
    }
    if (PRIVATE_MEMBERS.some((m) => m in k)) throw bad(`key ${i} is a private key; list public keys only`);
    if (k.kid !== undefined && typeof k.kid !== "string") throw bad(`key ${i}: "kid" must be a string`);
    if (k.alg !== undefined && !["RS256", "ES256", "EdDSA"].includes(k.alg as string)) {
      throw bad(`key ${i}: "alg" must be RS256, ES256 or EdDSA when given`);
    }
  });
  return { keys: keys as JWK[] };
}

/**
 * `PARLEY_JWKS_URL`: https: only, since the keys it serves decide who anyone is. `http:` is allowed for a
 * loopback host (`localhost`, `127.x.x.x`, `[::1]`) alone, so that tests and a local identity provider
 * can serve one without TLS; nothing else on the network is trusted without it.
 */
function jwksUrl(env: Env): string | undefined {
  const raw = env.PARLEY_JWKS_URL?.trim();
  if (raw === undefined || raw === "") return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError("PARLEY_JWKS_URL must be an absolute https: URL");
  }
  const loopback = url.hostname === "localhost" || url.hostname === "[::1]" || /^127(\.\d{1,3}){3}$/.test(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
    throw new ConfigError("PARLEY_JWKS_URL must be an https: URL (http: only on localhost or 127.0.0.1)");
  }
  if (url.username !== "" || url.password !== "") {
    throw new ConfigError("PARLEY_JWKS_URL must not carry a user name or password");
  }
  return url.href;
}

/** `PARLEY_AUTH` and the key variables; refuses a mode with nothing to verify tokens by. */
function auth(env: Env): AuthConfig {
  const secret = env.PARLEY_JWT_SECRET === "" ? undefined : env.PARLEY_JWT_SECRET;
  if (secret !== undefined && new TextEncoder().encode(secret).length < JWT_SECRET_MIN_BYTES) {
    // The value is never quoted: not even its length, which narrows a guess.
    throw new ConfigError(`PARLEY_JWT_SECRET must be at least ${JWT_SECRET_MIN_BYTES} bytes`);
  }
  if (secret !== undefined && /-----BEGIN |^\s*\{/.test(secret)) {
    // A public key as the HS256 secret lets anyone who has that (public) key sign tokens.
    throw new ConfigError(
      "PARLEY_JWT_SECRET looks like a PEM or JWK key, not a random shared secret; public keys go in PARLEY_JWT_PUBLIC_KEYS",
    );
  }
  const keys = publicKeys(env);
  const url = jwksUrl(env);
  const keyed = secret !== undefined || keys !== undefined || url !== undefined;
  const rawMode = env.PARLEY_AUTH?.trim().toLowerCase();
  let mode: AuthMode;
  if (rawMode === undefined || rawMode === "") mode = keyed ? "optional" : "off";
  else if (rawMode === "off" || rawMode === "optional" || rawMode === "required") mode = rawMode;
  else throw new ConfigError(`PARLEY_AUTH must be off, optional or required, got "${env.PARLEY_AUTH}"`);
  if (mode !== "off" && !keyed) {
    throw new ConfigError(
      `PARLEY_AUTH=${mode} needs a key: set PARLEY_JWT_SECRET, PARLEY_JWT_PUBLIC_KEYS or PARLEY_JWKS_URL`,
    );
  }
  const config: AuthConfig = { mode };
  if (secret !== undefined) config.secret = secret;
  if (keys !== undefined) config.publicKeys = keys;
  if (url !== undefined) config.jwksUrl = url;
  const issuer = env.PARLEY_JWT_ISSUER?.trim();
  if (issuer) config.issuer = issuer;
  const audience = env.PARLEY_JWT_AUDIENCE?.trim();
  if (audience) config.audience = audience;
  return config;
}

/** Read the configuration from an environment, applying the documented defaults. */
export function loadConfig(env: Env): Config {
  return {
    port: int(env, "PORT", 8787, 0, 65535),
    listenAddress: env.HOST?.trim() || "127.0.0.1",
    db: env.PARLEY_DB?.trim() || "./data/parley.db",
    maxFrameBytes: int(env, "PARLEY_MAX_FRAME_BYTES", DEFAULTS.maxFrameBytes, 64, 64 * 1024 * 1024),
    maxText: int(env, "PARLEY_MAX_TEXT", DEFAULTS.maxText, 1, 1_000_000),
    rateBurst: int(env, "PARLEY_RATE_BURST", DEFAULTS.rateBurst, 1),
    ratePerSec: num(env, "PARLEY_RATE_PER_SEC", DEFAULTS.ratePerSec),
    maxMembers: int(env, "PARLEY_MAX_MEMBERS", DEFAULTS.maxMembers, 1),
    maxStrikes: int(env, "PARLEY_MAX_STRIKES", DEFAULTS.maxStrikes, 1),
    strikeWindowMs: 10_000,
    maxConnectionsPerIp: int(env, "PARLEY_MAX_CONNECTIONS_PER_IP", DEFAULTS.maxConnectionsPerIp, 0),
    allowedOrigins: list(env, "PARLEY_ALLOWED_ORIGINS"),
    allowedHosts: list(env, "PARLEY_ALLOWED_HOSTS").map((h) => h.toLowerCase()),
    trustProxy: proxies(env),
    frameBurst: int(env, "PARLEY_FRAME_BURST", DEFAULTS.frameBurst, 1),
    framePerSec: num(env, "PARLEY_FRAME_PER_SEC", DEFAULTS.framePerSec),
    connectBurst: int(env, "PARLEY_CONNECT_BURST", DEFAULTS.connectBurst, 1),
    connectPerSec: num(env, "PARLEY_CONNECT_PER_SEC", DEFAULTS.connectPerSec),
    maxMembersPerIp: int(env, "PARLEY_MAX_MEMBERS_PER_IP", DEFAULTS.maxMembersPerIp, 1),
    guestTtlMs: int(env, "PARLEY_GUEST_TTL_MS", DEFAULTS.guestTtlMs, 1000),
    largeRoom: int(env, "PARLEY_LARGE_ROOM", DEFAULTS.largeRoom, 1),
    presenceMs: int(env, "PARLEY_PRESENCE_MS", DEFAULTS.presenceMs, 0, 60_000),
    idleTimeoutMs: int(env, "PARLEY_IDLE_TIMEOUT_MS", DEFAULTS.idleTimeoutMs, 1000),
    maxQueueBytes: int(env, "PARLEY_MAX_QUEUE_BYTES", DEFAULTS.maxQueueBytes, 1024),
    historyLimit: int(env, "PARLEY_HISTORY_LIMIT", DEFAULTS.historyLimit, 1),
    welcomeMessages: 50,
    resumeWindow: 100,
    typingIntervalMs: TYPING_INTERVAL_MS,
    auth: auth(env),
    editWindowMs: int(env, "PARLEY_EDIT_WINDOW_MS", EDIT_WINDOW_MS, 0),
    apiKey: apiKey(env),
    webhook: webhook(env),
    ...logging(env),
    metricsToken: metricsToken(env),
  };
}

/** `PARLEY_LOG_LEVEL` (error, warn, info, debug) and `PARLEY_LOG_FORMAT` (json, pretty). */
function logging(env: Env): Pick<Config, "logLevel" | "logFormat"> {
  const { level, format } = logSettings(env);
  if (!level) throw new ConfigError("PARLEY_LOG_LEVEL must be error, warn, info or debug");
  if (!format) throw new ConfigError("PARLEY_LOG_FORMAT must be json or pretty");
  return { logLevel: level, logFormat: format };
}

/** `PARLEY_METRICS_TOKEN`: at least 16 characters, as for the API key. */
function metricsToken(env: Env): string | undefined {
  const token = env.PARLEY_METRICS_TOKEN?.trim();
  if (!token) return undefined;
  if (token.length < 16) throw new ConfigError("PARLEY_METRICS_TOKEN must be at least 16 characters");
  return token;
}

/** `PARLEY_API_KEY`: at least 16 characters, since it is all that stands between the internet and the API. */
function apiKey(env: Env): string | undefined {
  const key = env.PARLEY_API_KEY?.trim();
  if (!key) return undefined;
  if (key.length < 16) throw new ConfigError("PARLEY_API_KEY must be at least 16 characters");
  return key;
}

/** `PARLEY_WEBHOOK_URL` with `PARLEY_WEBHOOK_SECRET` (both or neither), and `PARLEY_WEBHOOK_RETRY_MS`. */
function webhook(env: Env): Config["webhook"] {
  const raw = env.PARLEY_WEBHOOK_URL?.trim();
  const secret = env.PARLEY_WEBHOOK_SECRET?.trim();
  const retryMs = int(env, "PARLEY_WEBHOOK_RETRY_MS", 1000, 10, 600_000);
  if (!raw && !secret) return undefined;
  if (!raw || !secret) throw new ConfigError("PARLEY_WEBHOOK_URL and PARLEY_WEBHOOK_SECRET go together");
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError("PARLEY_WEBHOOK_URL must be an absolute http: or https: URL");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new ConfigError("PARLEY_WEBHOOK_URL must be an absolute http: or https: URL");
  }
  if (secret.length < 16) throw new ConfigError("PARLEY_WEBHOOK_SECRET must be at least 16 characters");
  return { url: url.href, secret, retryMs };
}
