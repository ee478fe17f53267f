/**
 * The frames the server sends and the bodies of its HTTP answers, as types only: a client that imports
 * them carries no validation library. The frames a client sends are typed from their schemas (schema.ts).
 */
import type { ErrorCode } from "./constants.ts";

export interface User {
  id: string;
  name: string;
  /** A signed user's subject (PROTOCOL-v2 section 2). */
  sub?: string;
  /** Present when not `member`. */
  role?: "moderator";
  /** A user the HTTP API acts as. */
  bot?: true;
}

/**
 * A `message` entry. In a folded view (history, a fresh welcome) it carries the message's current
 * state: `edited`, `deleted` and `reactions` (PROTOCOL-v2 section 1).
 */
export interface Message {
  type: "message";
  seq: number;
  ts: number;
  from: User;
  text: string;
  ref?: string;
  /** The acting user: equal to `from` (v2). */
  by?: User;
  /** The `seq` of the message this one replies to. */
  replyTo?: number;
  /** When it was last edited (folded). */
  edited?: number;
  /** True once deleted; `text` is then "" (folded). */
  deleted?: true;
  /** Emoji → the ids of the users who reacted with it (folded). */
  reactions?: Record<string, string[]>;
}

/** Fields every v2 entry has. */
interface EntryBase {
  seq: number;
  ts: number;
  by: User;
  ref?: string;
}
export interface EditedEntry extends EntryBase {
  type: "edited";
  target: number;
  text: string;
}
export interface DeletedEntry extends EntryBase {
  type: "deleted";
  target: number;
}
export interface ReactedEntry extends EntryBase {
  type: "reacted";
  target: number;
  emoji: string;
  on: boolean;
}
export type ModerationAction = "kick" | "ban" | "unban" | "mute" | "unmute";
export interface ModeratedEntry extends EntryBase {
  type: "moderated";
  action: ModerationAction;
  user: User;
  until?: number;
  reason?: string;
}
/** One entry of the room log (v2). */
export type Entry = (Message & { by: User }) | EditedEntry | DeletedEntry | ReactedEntry | ModeratedEntry;

export interface WelcomeFrame {
  type: "welcome";
  room: string;
  epoch: string;
  you: User;
  token: string;
  members: User[];
  /**
   * Folded messages on a fresh join; on a resume, what came after `since`: message entries for a v1
   * connection, entries of every kind for a v2 one.
   */
  messages: Message[] | Entry[];
  seq: number;
  resumed: boolean;
  /** Present (true) when `messages` was cut to fit the page's byte limit; page the rest with `history`. */
  more?: boolean;
  /** v2: how many users are in the room; `members` lists at most MEMBERS_PAGE of them. */
  memberCount?: number;
  /** v2: present when `members` is not everyone; the `after` of the `members` request for the rest. */
  membersNext?: number;
}
export interface AckFrame {
  type: "ack";
  ref: string;
  seq: number;
}
/** The ack of a v2 frame that changed nothing (a reaction already there, an unban of nobody): no `seq`. */
export interface NoChangeAck {
  type: "ack";
  ref: string;
}
export interface JoinedFrame {
  type: "joined";
  user: User;
}
export interface LeftFrame {
  type: "left";
  user: User;
}
/**
 * v2, in a big room: every join and leave since the last one of these, each user once (the net
 * change), and how many users are in the room now.
 */
export interface PresenceFrame {
  type: "presence";
  joined: User[];
  left: User[];
  count: number;
}
/** v2: one page of the room's users in join order, the answer to a `members` request. */
export interface MembersPage {
  type: "members";
  members: User[];
  count: number;
  /** Present when more users follow: the `after` of the next request. */
  next?: number;
  ref?: string;
}
export interface RenamedFrame {
  type: "renamed";
  user: User;
  from: string;
}
export interface TypingNotice {
  type: "typing";
  user: User;
}
export interface HistoryPage {
  type: "history";
  messages: Message[];
  more: boolean;
  ref?: string;
}
/** The answer to `history` with `entries:true` (v2): raw entries in place of folded messages. */
export interface EntriesPage {
  type: "history";
  entries: Entry[];
  more: boolean;
  ref?: string;
}
export interface PongFrame {
  type: "pong";
  ref?: string;
}
export interface ErrorFrame {
  type: "error";
  code: ErrorCode;
  message: string;
  ref?: string;
  retryAfterMs?: number;
}

export type ServerFrame =
  | WelcomeFrame
  | Message
  | EditedEntry
  | DeletedEntry
  | ReactedEntry
  | ModeratedEntry
  | AckFrame
  | NoChangeAck
  | JoinedFrame
  | LeftFrame
  | PresenceFrame
  | MembersPage
  | RenamedFrame
  | TypingNotice
  | HistoryPage
  | EntriesPage
  | PongFrame
  | ErrorFrame;

// ---- HTTP ---------------------------------------------------------------------------------

export interface RoomInfo {
  room: string;
  epoch: string;
  seq: number;
  members: User[];
}
export interface MessagePage {
  messages: Message[];
  more: boolean;
}
export interface HttpError {
  error: { code: string; message: string };
}
