/**
 * Structured logs: one JSON object per line (or a readable line for a terminal), on every runtime,
 * through LogTape (`@logtape/logtape`: no dependencies, the same API on Node, Deno, Bun and workerd).
 *
 * What a line may carry is fixed here (`LogFields`): names of rooms, user and connection ids, codes,
 * counts, durations. Never a message's text, a reconnect or access token, an API key or a secret: the
 * room engine passes fields one by one, never a frame or a record, so nothing new slips in with a field
 * added elsewhere. Lines go to stderr; stdout keeps only the listening line the tools read.
 */
import { configureSync, getJsonLinesFormatter, getLogger, type LogRecord } from "@logtape/logtape";

/** `PARLEY_LOG_LEVEL`. */
export type LogLevelName = "error" | "warn" | "info" | "debug";
/** `PARLEY_LOG_FORMAT`. */
export type LogFormat = "json" | "pretty";

/** What a log line may say besides its event. */
export interface LogFields {
  runtime?: string;
  room?: string;
  uid?: string;
  cid?: string;
  /** A close code, or an error frame's or HTTP error's code. */
  code?: number | string;
  /** A close reason the server chose (never a client's). */
  reason?: string;
  status?: number;
  port?: number;
  address?: string;
  v?: number;
  count?: number;
  ms?: number;
  /** An exception's message (a store's or a runtime's, never a client's input). */
  error?: string;
  /** Counts by series, where no scraper reads them (src/metrics.ts, `tallyMeter`). */
  counts?: Record<string, number>;
}

const LEVELS = { error: "error", warn: "warning", info: "info", debug: "debug" } as const;
const logger = getLogger(["parley"]);

/** A line for a terminal: the time, the level, the event, then its fields as key=value. */
function pretty(record: LogRecord): string {
  const time = new Date(record.timestamp).toISOString().slice(11, 23);
  const fields = Object.entries(record.properties)
    .filter(([key]) => key !== "event")
    .map(([key, value]) => `${key}=${typeof value === "string" && /\s/.test(value) ? JSON.stringify(value) : value}`);
  return `${time} ${record.level.toUpperCase().padEnd(7)} ${String(record.properties.event ?? record.message.join(""))} ${fields.join(" ")}`.trimEnd();
}

/** Configure where and how much Parley logs; call once per process or isolate (again replaces it). */
export function setupLogging(
  level: LogLevelName = "info",
  format: LogFormat = "json",
  write?: (line: string) => void,
): void {
  const formatter =
    format === "pretty" ? pretty : getJsonLinesFormatter({ properties: "flatten", message: "rendered" });
  const out = write ?? ((line: string) => console.error(line.replace(/\n$/, "")));
  configureSync({
    reset: true,
    sinks: { out: (record) => out(formatter(record)) },
    loggers: [
      { category: ["parley"], lowestLevel: LEVELS[level], sinks: ["out"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["out"] },
    ],
  });
}

/** Read `PARLEY_LOG_LEVEL` and `PARLEY_LOG_FORMAT`; undefined for an unknown value (the config refuses it). */
export function logSettings(env: Record<string, string | undefined>): { level?: LogLevelName; format?: LogFormat } {
  const level = env.PARLEY_LOG_LEVEL?.trim().toLowerCase() || "info";
  const format = env.PARLEY_LOG_FORMAT?.trim().toLowerCase() || "json";
  return {
    level: level in LEVELS ? (level as LogLevelName) : undefined,
    format: format === "json" || format === "pretty" ? format : undefined,
  };
}

function emit(level: "error" | "warn" | "info" | "debug", event: string, fields: LogFields): void {
  // The event is the message, and a field of its own for queries; `{` in an event name never comes.
  logger[level](event, { event, ...fields });
}

/** Parley's log: an event name and its safe fields. */
export const log = {
  error: (event: string, fields: LogFields = {}) => emit("error", event, fields),
  warn: (event: string, fields: LogFields = {}) => emit("warn", event, fields),
  info: (event: string, fields: LogFields = {}) => emit("info", event, fields),
  debug: (event: string, fields: LogFields = {}) => emit("debug", event, fields),
};
