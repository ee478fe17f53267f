/**
 * The runtimes every suite runs against (conformance, reliability, browser, client), and the one place
 * that says how they differ. Each difference is a capability flag: `false` where the runtime behaves as
 * the protocol says, or the reason where it does not. node:test's `skip` option takes a flag as it is, so
 * a test that a difference rules out reads `it("idle: …", { skip: runtime.ownsIdle }, …)`, and the runner
 * prints the reason. No test is skipped by its title.
 */
import { type TestContext, test } from "node:test";
import { denoArgs, denoBinary } from "../../scripts/start-deno.ts";
import type { Command } from "./server.ts";
import { wranglerDev } from "./wrangler.ts";

export type RuntimeName = "node" | "deno" | "bun" | "workers";

/** `false` where a runtime behaves as the protocol says; otherwise why it does not (a skip's reason). */
export type Difference = false | string;

/** What makes a runtime differ, each flag with its reason. */
export interface Differences {
  /** The platform, not Parley, closes idle sockets: Parley's idle timeout is not there to test. */
  ownsIdle: Difference;
  /** The sockets have no send queue Parley can read: the slow-reader limit is not enforced. */
  ownsSendQueue: Difference;
  /** There is no server process to signal: no graceful shutdown to test. */
  ownsShutdown: Difference;
  /** The spawned process is not the runtime, so its memory says nothing of the server's. */
  ownsMemory: Difference;
  /** The platform collects the counts: there is no `/metrics` to scrape (it answers 404). */
  ownsMetrics: Difference;
  /** The server's output is the platform tool's too, so only lines Parley's logger wrote are Parley's. */
  mixesLogOutput: Difference;
  /**
   * The server's RSS moves with garbage the runtime collects late, by more than what a test pushes, so
   * a growth bound cannot tell buffering from garbage there (the test asserts the behaviour instead).
   */
  rssHidesBuffering: Difference;
  /** The database is the platform's, not a file a test can measure. */
  ownsDatabaseFile: Difference;
  /** An oversize frame is read by the platform before Parley can refuse it. */
  readsFramesWhole: Difference;
  /** The idle timeout is rounded: a configured 1–7 s becomes 8 s (see `idleTimeoutMs`). */
  roundsIdleUpTo8s: Difference;
  /** `Sec-WebSocket-Protocol` is split on ", " only, so an offer written "foo,parley.v1" selects nothing. */
  splitsProtocolOnCommaSpaceOnly: Difference;
  /** Something in front of Parley negotiates permessage-deflate before Parley sees the handshake. */
  negotiatesCompression: Difference;
  /** A connection failed for a frame the runtime cannot parse gets no Close frame, only a TCP close. */
  failsWithoutCloseFrame: Difference;
  /** After a closing handshake the runtime keeps the TCP connection open a while (RFC 6455 §7.1.1 says SHOULD close). */
  keepsTcpAfterClose: Difference;
  /** A closing socket is torn down when another data frame arrives, so the client may see 1006 instead of the Close. */
  dropsCloseOnIncomingData: Difference;
  /** A room lives in the server's memory as long as the process does: it never hibernates, so nothing wakes it. */
  neverHibernates: Difference;
  /** A request that follows one whose body the server refused unread may stall until its client gives up. */
  stallsAfterUnreadBody: Difference;
}

export interface Runtime extends Differences {
  name: RuntimeName;
  /** How to start this runtime's server for an environment (PORT, HOST and the PARLEY_* variables). */
  command: (env: Record<string, string>) => Command | Promise<Command>;
}

/** How each runtime's real server is started; bench/peers.ts starts Parley the same way. */
export const commands: Record<RuntimeName, Runtime["command"]> = {
  node: () => ({ cmd: process.execPath, args: ["--enable-source-maps", "dist/node.mjs"] }),
  // Permissions are computed per server from its PARLEY_DB, exactly as `npm run start:deno` does.
  deno: (env) => ({ cmd: denoBinary(), args: denoArgs(env) }),
  bun: () => ({ cmd: "node_modules/.bin/bun", args: ["src/adapter/bun/index.ts"] }),
  workers: wranglerDev,
};

/** A runtime that behaves as the protocol says in every respect a flag names. */
const AS_SPECIFIED: Differences = {
  ownsIdle: false,
  ownsSendQueue: false,
  ownsShutdown: false,
  ownsMemory: false,
  ownsMetrics: false,
  mixesLogOutput: false,
  ownsDatabaseFile: false,
  rssHidesBuffering: false,
  readsFramesWhole: false,
  roundsIdleUpTo8s: false,
  splitsProtocolOnCommaSpaceOnly: false,
  negotiatesCompression: false,
  failsWithoutCloseFrame: false,
  keepsTcpAfterClose: false,
  dropsCloseOnIncomingData: false,
  neverHibernates: false,
  stallsAfterUnreadBody: false,
};

/** Why a test of waking from hibernation (Workers only) does not apply to a process runtime. */
const IN_PROCESS =
  "a process runtime keeps a room in its memory while the process lives: there is no hibernation to wake from (a restart is tested instead)";

const PLATFORM = "on Workers the platform owns this (docs/protocol.md, 'Workers: where the platform decides'): ";

export const runtimes: Record<RuntimeName, Runtime> = {
  node: { ...AS_SPECIFIED, name: "node", command: commands.node, neverHibernates: IN_PROCESS },
  // Deno runs the Node adapter's server (node:http and `ws`) through its Node compatibility, so the
  // gaps of Deno.upgradeWebSocket (the ", " split, no Close on a bad frame, no payload limit) are gone.
  deno: {
    ...AS_SPECIFIED,
    name: "deno",
    command: commands.deno,
    neverHibernates: IN_PROCESS,
    rssHidesBuffering:
      "Deno runs the Node adapter's server through its Node compatibility, whose write path leaves garbage V8 collects late: with the slow reader cut off at about 1600 of 10,000 messages (1013 slow_reader, asserted), the server's RSS still grew by 85 MiB during 60 MiB of traffic to the readers that kept up, and by 5 MiB in a run on its own",
  },
  bun: {
    ...AS_SPECIFIED,
    name: "bun",
    command: commands.bun,
    neverHibernates: IN_PROCESS,
    roundsIdleUpTo8s: "Bun rounds an idle timeout of 1–7 s up to 8 s (docs/protocol.md, Parley's decisions)",
  },
  workers: {
    ...AS_SPECIFIED,
    name: "workers",
    command: commands.workers,
    ownsIdle: `${PLATFORM}a Durable Object sets no timers and sends no pings, so that it can hibernate; the platform closes dead sockets`,
    ownsSendQueue: `${PLATFORM}a Durable Object's sockets expose no send queue, so the send-queue limit is not enforced (and workerd's memory is not the server's to bound)`,
    ownsShutdown: `${PLATFORM}a deploy or reset drops the sockets and clients resume; there is no process to stop`,
    ownsMemory: `${PLATFORM}the server process is wrangler, with workerd as its child, so its RSS says nothing of the runtime's`,
    ownsMetrics: `${PLATFORM}a Worker has no process to scrape, so there is no /metrics; the counts go out as log lines and, when bound, to Analytics Engine (docs/operations.md)`,
    mixesLogOutput:
      "under wrangler dev the output is wrangler's too: it prints each request's URL (a token in the query included), so Parley's own lines are the ones its logger wrote",
    readsFramesWhole: `${PLATFORM}workerd reads a message up to its own limit (a 60 MB announcement was read for 4 MiB, then closed 1009) before the object sees it; Parley closes whatever reaches it over the limit with 1009 before parsing`,
    ownsDatabaseFile: `${PLATFORM}each room's SQLite is the Durable Object's storage, not a file whose size a test can read (DO SQL refuses page_count); that guests are forgotten is tested by their tokens instead`,
    negotiatesCompression:
      "under wrangler dev, miniflare's own entry worker (compatibility date 2023-07-24) answers the client's handshake and negotiates permessage-deflate before Parley sees the request; wrangler.toml sets no_web_socket_compression for the deployed Worker",
    // It still sends Close 1002/1009 for a frame it cannot parse (docs/security.md, "Raw frames: what each
    // runtime does").
    stallsAfterUnreadBody:
      "under wrangler dev, after the Worker answered a POST without reading its body (a 401, 404 or bad_room refusal), the next request sometimes stalls until its client aborts it, and is only then served (seen about once in 20 such pairs, with or without Connection: close; cf. cloudflare/workers-sdk#5095); a test sends a throwaway request, bounded in time, after such a refusal",
    keepsTcpAfterClose:
      "workerd (behind wrangler dev) keeps the TCP connection about 10 s after the closing handshake, whatever the client answers",
  },
};

/** The idle timeout `runtime` really applies when `configuredMs` is set. */
export function idleTimeoutMs(runtime: Runtime, configuredMs: number): number {
  return runtime.roundsIdleUpTo8s && configuredMs < 8000 ? 8000 : configuredMs;
}

type Body = (t: TestContext) => void | Promise<void>;
/** A test's options in a suite: a skip (a flag) and a timeout other than the suite's. */
export interface CaseOptions {
  skip?: Difference;
  timeout?: number;
}

/**
 * node:test's `test` with a suite's default timeout: `it(name, fn)`, or `it(name, { skip: runtime.ownsIdle }, fn)`.
 */
export function testsWithTimeout(timeoutMs: number) {
  function it(name: string, fn: Body): void;
  function it(name: string, options: CaseOptions, fn: Body): void;
  function it(name: string, a: CaseOptions | Body, b?: Body): void {
    const [options, fn] = typeof a === "function" ? [{}, a] : [a, b as Body];
    test(name, { timeout: timeoutMs, ...options }, fn);
  }
  return it;
}
