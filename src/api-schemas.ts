/**
 * The validators of the HTTP API's bodies and queries, on their own: the routes use them (api.ts,
 * app.ts), and scripts/contract.ts generates the OpenAPI document from them, before anything that
 * imports the generated document can load.
 */
import * as v from "valibot";
import { REASON_MAX, SANCTION_MINUTES_MAX } from "./protocol/constants.ts";

const seqNumber = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(Number.MAX_SAFE_INTEGER));
const name = v.pipe(v.string(), v.maxLength(64));
/** The body of `POST /api/rooms/:room/messages` (also the OpenAPI document's, scripts/contract.ts). */
export const PostBody = v.object({
  text: v.string(),
  from: v.object({ name, sub: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(64))) }),
  ref: v.optional(v.pipe(v.string(), v.maxLength(64))),
  replyTo: v.optional(seqNumber),
});
/** The body of `POST /api/rooms/:room/moderation`. */
export const ModerationBody = v.pipe(
  v.object({
    action: v.picklist(["kick", "ban", "unban", "mute", "unmute"]),
    user: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(64))),
    sub: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(64))),
    minutes: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(SANCTION_MINUTES_MAX))),
    reason: v.optional(v.pipe(v.string(), v.maxLength(REASON_MAX))),
  }),
  v.check((b) => (b.user === undefined) !== (b.sub === undefined), "exactly one of user and sub"),
  v.check((b) => b.action !== "mute" || b.minutes !== undefined, "minutes is required for mute"),
  // As for the socket's `ban` frame: a ban lasts 1 minute to a year, or (no minutes) until lifted.
  v.check((b) => b.action !== "ban" || b.minutes === undefined || b.minutes >= 1, "a ban's minutes are 1 to 525600"),
);
/** A whole number written in a URL (a query value, a path segment), from `min` to `max`. */
export const decimal = (min: number, max: number) =>
  v.pipe(v.string(), v.regex(/^\d{1,16}$/), v.transform(Number), v.minValue(min), v.maxValue(max));
/** The query of `GET /api/rooms/:room/entries`. */
export const EntriesQuery = v.object({
  after: v.optional(decimal(0, Number.MAX_SAFE_INTEGER)),
  limit: v.optional(decimal(1, 1000)),
});
/** `?before=&limit=` of a history read. */
export const PageQuery = v.object({
  before: v.optional(decimal(0, Number.MAX_SAFE_INTEGER)),
  limit: v.optional(decimal(1, 100)),
});
