/** The client's public types: its states, its events, its options and the socket it needs. */
import type {
  AckFrame,
  ErrorFrame,
  JoinedFrame,
  LeftFrame,
  Message,
  PongFrame,
  RenamedFrame,
  TypingNotice,
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
  /** Why, in words: a close reason, or the server's JSON error for a refused handshake. */
  reason?: string;
  /** When reconnecting: the wait before the next attempt. */
  retryInMs?: number;
}

/** A message said and not yet acknowledged, as the `queue` event and `queued()` list it. */
export interface QueuedMessage {
  ref: string;
  text: string;
}

/** Every event a client emits, with its payload. */
export interface ClientEvents {
  state: StateChange;
  /** Each (re)join; `messages` there are also delivered one by one as `message` events. */
  welcome: WelcomeFrame;
  /** Every message of the room exactly once, in `seq` order, live or replayed. */
  message: Message;
  /** The room's numbering restarted (a new epoch): messages delivered before belong to another life. */
  reset: { epoch: string };
  /** The current member list, after any change. */
  members: User[];
  joined: JoinedFrame;
  left: LeftFrame;
  renamed: RenamedFrame;
  typing: TypingNotice;
  ack: AckFrame;
  pong: PongFrame;
  /** An error frame that no call of this client claimed. */
  error: ErrorFrame;
  /** The refs and texts waiting to be sent or acknowledged, after any change. */
  queue: QueuedMessage[];
}

/** The part of the WebSocket API the client uses; the browser's, Deno's, Bun's and `ws`'s all fit. */
export interface SocketLike {
  readonly readyState: number;
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
