/**
 * Environment → configuration. The variable names are the same on every runtime
 * (process env on Node/Deno/Bun, `[vars]` on Workers); see docs/protocol.md, "Defaults".
 */

import { DEFAULTS, TYPING_INTERVAL_MS } from "./protocol/constants.ts";

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
  idleTimeoutMs: number;
  maxQueueBytes: number;
  historyLimit: number;
  /** How many messages a fresh `welcome` carries, and the most a resume may replay. */
  welcomeMessages: number;
  resumeWindow: number;
  typingIntervalMs: number;
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
] as const;

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
    idleTimeoutMs: int(env, "PARLEY_IDLE_TIMEOUT_MS", DEFAULTS.idleTimeoutMs, 1000),
    maxQueueBytes: int(env, "PARLEY_MAX_QUEUE_BYTES", DEFAULTS.maxQueueBytes, 1024),
    historyLimit: int(env, "PARLEY_HISTORY_LIMIT", DEFAULTS.historyLimit, 1),
    welcomeMessages: 50,
    resumeWindow: 100,
    typingIntervalMs: TYPING_INTERVAL_MS,
  };
}
