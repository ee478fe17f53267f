/**
 * The frames the server sends, as valibot schemas: the source of their JSON Schemas (docs/schema/,
 * scripts/contract.ts) and what the tests check every frame of a conformance run against. The
 * types in frames.ts stay the ones code uses (a client imports no validation library); a test keeps the
 * two in step. Nothing at run time parses a server frame with these.
 */
import * as v from "valibot";
import { ERROR_CODES } from "./constants.ts";

const seq = v.pipe(v.number(), v.integer(), v.minValue(0));
const ts = v.pipe(v.number(), v.integer());
const ref = v.optional(v.string());

export const UserSchema = v.object({
  id: v.string(),
  name: v.string(),
  sub: v.optional(v.string()),
  role: v.optional(v.literal("moderator")),
  bot: v.optional(v.literal(true)),
});

export const MessageSchema = v.object({
  type: v.literal("message"),
  seq,
  ts,
  from: UserSchema,
  text: v.string(),
  ref,
  by: v.optional(UserSchema),
  replyTo: v.optional(seq),
  edited: v.optional(ts),
  deleted: v.optional(v.literal(true)),
  reactions: v.optional(v.record(v.string(), v.array(v.string()))),
});

const entry = { seq, ts, by: UserSchema, ref };
export const EditedSchema = v.object({ type: v.literal("edited"), ...entry, target: seq, text: v.string() });
export const DeletedSchema = v.object({ type: v.literal("deleted"), ...entry, target: seq });
export const ReactedSchema = v.object({
  type: v.literal("reacted"),
  ...entry,
  target: seq,
  emoji: v.string(),
  on: v.boolean(),
});
export const ModeratedSchema = v.object({
  type: v.literal("moderated"),
  ...entry,
  action: v.picklist(["kick", "ban", "unban", "mute", "unmute"]),
  user: UserSchema,
  until: v.optional(ts),
  reason: v.optional(v.string()),
});
const EntrySchema = v.variant("type", [MessageSchema, EditedSchema, DeletedSchema, ReactedSchema, ModeratedSchema]);

/** Every frame the server sends, by its `type` (two shapes share `ack` and `history`). */
export const SERVER_FRAMES = {
  welcome: v.object({
    type: v.literal("welcome"),
    room: v.string(),
    epoch: v.string(),
    you: UserSchema,
    token: v.string(),
    members: v.array(UserSchema),
    messages: v.array(EntrySchema),
    seq,
    resumed: v.boolean(),
    more: v.optional(v.literal(true)),
    memberCount: v.optional(seq),
    membersNext: v.optional(seq),
  }),
  message: MessageSchema,
  edited: EditedSchema,
  deleted: DeletedSchema,
  reacted: ReactedSchema,
  moderated: ModeratedSchema,
  ack: v.object({ type: v.literal("ack"), ref: v.string(), seq: v.optional(seq) }),
  joined: v.object({ type: v.literal("joined"), user: UserSchema }),
  left: v.object({ type: v.literal("left"), user: UserSchema }),
  presence: v.object({
    type: v.literal("presence"),
    joined: v.array(UserSchema),
    left: v.array(UserSchema),
    count: seq,
  }),
  members: v.object({
    type: v.literal("members"),
    members: v.array(UserSchema),
    count: seq,
    next: v.optional(seq),
    ref,
  }),
  renamed: v.object({ type: v.literal("renamed"), user: UserSchema, from: v.string() }),
  typing: v.object({ type: v.literal("typing"), user: UserSchema }),
  history: v.union([
    v.object({ type: v.literal("history"), messages: v.array(MessageSchema), more: v.boolean(), ref }),
    v.object({ type: v.literal("history"), entries: v.array(EntrySchema), more: v.boolean(), ref }),
  ]),
  pong: v.object({ type: v.literal("pong"), ref }),
  error: v.object({
    type: v.literal("error"),
    code: v.picklist(ERROR_CODES),
    message: v.string(),
    ref,
    retryAfterMs: v.optional(seq),
  }),
} as const;

/** The type of every server frame. */
export type ServerFrameType = keyof typeof SERVER_FRAMES;
