/** The client's public types: its states, its events, its options and the socket it needs. */
import type {
  AckFrame,
  BanFrame,
  DeletedEntry,
  DeleteFrame,
  EditedEntry,
  EditFrame,
  Entry,
  ErrorFrame,
  JoinedFrame,
  KickFrame,
  LeftFrame,
  Message,
  ModeratedEntry,
  MuteFrame,
  NoChangeAck,
  PongFrame,
  ReactedEntry,
  ReactFrame,
  RenamedFrame,
  SayFrame,
  TypingNotice,
  UnbanFrame,
  User,
  WelcomeFrame,
} from "../protocol/index.ts";

/** Where the connection is: `stopped` is final (a normal close, a refusal, or `close()`). */
export type ConnectionState = "connecting" | "live" | "reconnecting" | "stopped";

/** One change of state, with what caused it. */
export interface StateChange {
  state: ConnectionState;
  /** The close code that led here, if a socket closed. */
  code?: number;
  /**
   * Why, in words: a close reason (`kicked` or `banned` with `1008`: a moderator removed this user), or
   * the server's JSON error for a refused handshake (a 401 or 403 stops the client with it).
   */
  reason?: string;
  /** When reconnecting: the wait before the next attempt. */
  retryInMs?: number;
}

/** A message in the client's folded view of the room: its current text, `edited`, `deleted`, `reactions`. */
export type FoldedMessage = Message;

/** One change of the folded view (`client.messages`), as the `change` event reports it. */
export interface ViewChange {
  /** The entry just applied; absent when the view changed as a whole (a history page merged, a new epoch). */
  entry?: Message | Entry;
  /** The message the entry made or changed, as it now stands; absent when the view holds no such message. */
  message?: FoldedMessage;
}

/** A message said and not yet acknowledged, as the `queue` event and `queued()` list it. */
export interface QueuedMessage {
  ref: string;
  text: string;
}

/** Every event a client emits, with its payload. */
export interface ClientEvents {
  state: StateChange;
  /**
   * Each (re)join; `messages` there are also delivered one by one as `message` events (a v2 resume's
   * replay holds entries of every kind: each is delivered as its own kind's event).
   */
  welcome: WelcomeFrame;
  /** Every message of the room exactly once, in `seq` order, live or replayed (as in v1: without `by`). */
  message: Message;
  /** v2: every entry of the room log (messages included) exactly once, in `seq` order, live or replayed, as received. */
  entry: Message | Entry;
  /** v2: a message's text changed (each kind below is also an `entry`, once, in `seq` order). */
  edited: EditedEntry;
  /** v2: a message was erased. */
  deleted: DeletedEntry;
  /** v2: a reaction was added (`on`) or removed. */
  reacted: ReactedEntry;
  /** v2: a moderator (or the HTTP API) kicked, banned, unbanned, muted or unmuted someone. */
  moderated: ModeratedEntry;
  /** After each change of the folded view `client.messages`: one per entry applied, or one for a page merged. */
  change: ViewChange;
  /** The room's numbering restarted (a new epoch): messages delivered before belong to another life. */
  reset: { epoch: string };
  /** The current member list, after any change. */
  members: User[];
  joined: JoinedFrame;
  left: LeftFrame;
  renamed: RenamedFrame;
  typing: TypingNotice;
  /** Every ack of this client's frames (v2: without `seq` for a frame that changed nothing). */
  ack: AckFrame | NoChangeAck;
  pong: PongFrame;
  /** An error frame that no call of this client claimed. */
  error: ErrorFrame;
  /** The refs and texts waiting to be sent or acknowledged, after any change. */
  queue: QueuedMessage[];
}

/** The part of the WebSocket API the client uses; the browser's, Deno's, Bun's and `ws`'s all fit. */
export interface SocketLike {
  readonly readyState: number;
  /** The subprotocol the server selected; a socket without the field counts as `parley.v2`. */
  readonly protocol?: string;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor: the global one, or `ws`'s on Node 20. */
export type SocketConstructor = new (url: string, protocols?: string | string[]) => SocketLike;

/** How to reach a room, and the client's timings. */
export interface ConnectOptions {
  room: string;
  name?: string;
  /** A token from an earlier `welcome` in this room: the same user id comes back. */
  token?: string;
  /** Called with each new token, to keep it (the page uses localStorage). */
  onToken?: (token: string) => void;
  /**
   * The application's signed access token (PROTOCOL-v2 section 2), or a function that returns it (or a
   * promise of it). A function is called before every connect, so a short-lived token is fresh on each
   * reconnect; if it throws, rejects or takes longer than `connectTimeoutMs`, that attempt fails and
   * the client retries with backoff. Sent as `?access_token=` on the upgrade (browsers cannot set
   * headers on a WebSocket) and as `Authorization: Bearer` on the diagnostic GET.
   */
  accessToken?: AccessToken;
  /** Defaults to the global WebSocket. */
  WebSocket?: SocketConstructor;
  /** Defaults to the global fetch; used to learn why a handshake failed. */
  fetch?: typeof fetch;
  /** Application ping while live (default 25 s, under every runtime's idle timeout). */
  pingIntervalMs?: number;
  /** No frame at all for this long after a ping means a dead connection (default 10 s). */
  pongTimeoutMs?: number;
  /** A handshake that has not opened by then is given up and retried (default 15 s). */
  connectTimeoutMs?: number;
  /** Reconnect backoff: the first delay and the cap (defaults 250 ms and 30 s), each jittered. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Random source for jitter and refs (tests pass a fixed one). */
  random?: () => number;
}

/** An access token, or what gets one for each connect. */
export type AccessToken = string | (() => string | Promise<string>);

/** A message to act on: its `seq`, or the message itself. */
export type MessageRef = number | { seq: number };
/** A user to act on: a room user id, or the user itself. */
export type UserRef = string | { id: string };

/** `say`'s options (v2). */
export interface SayOptions {
  /** The message this one replies to. */
  replyTo?: MessageRef;
}

/** `ban`'s options: no `minutes` bans until `unban`. */
export interface BanOptions {
  minutes?: number;
  reason?: string;
}

/**
 * What a call that makes an entry resolves with: its ack (an AckFrame), or a NoChangeAck, without `seq`,
 * when the frame changed nothing (a reaction already there, an unban of someone not banned).
 */
export interface Ack {
  type: "ack";
  ref: string;
  seq?: number;
}

/** A frame that makes an entry of the room log, and is acked by ref. */
export type EntryFrame =
  | SayFrame
  | EditFrame
  | DeleteFrame
  | ReactFrame
  | KickFrame
  | BanFrame
  | UnbanFrame
  | MuteFrame;

/** An EntryFrame before the outbox gives it its ref. */
export type EntryCall = WithoutRef<EntryFrame>;
type WithoutRef<F> = F extends unknown ? Omit<F, "ref"> : never;
