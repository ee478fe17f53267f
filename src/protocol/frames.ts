/**
 * The frames the server sends and the bodies of its HTTP answers, as types only: a client that imports
 * them carries no validation library. The frames a client sends are typed from their schemas (schema.ts).
 */
import type { ErrorCode } from "./constants.ts";

export interface User {
  id: string;
  name: string;
}

export interface Message {
  type: "message";
  seq: number;
  ts: number;
  from: User;
  text: string;
  ref?: string;
}

export interface WelcomeFrame {
  type: "welcome";
  room: string;
  epoch: string;
  you: User;
  token: string;
  members: User[];
  messages: Message[];
  seq: number;
  resumed: boolean;
  /** Present (true) when `messages` was cut to fit the page's byte limit; page the rest with `history`. */
  more?: boolean;
}
export interface AckFrame {
  type: "ack";
  ref: string;
  seq: number;
}
export interface JoinedFrame {
  type: "joined";
  user: User;
}
export interface LeftFrame {
  type: "left";
  user: User;
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
  | AckFrame
  | JoinedFrame
  | LeftFrame
  | RenamedFrame
  | TypingNotice
  | HistoryPage
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
