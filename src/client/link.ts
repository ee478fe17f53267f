/** The narrow view of a connection that the client's parts (outbox, requests, rename, gaps) work through. */
import type { ClientFrame } from "../protocol/index.ts";
import type { Timers } from "./timers.ts";

/** What a part of the client may ask of its connection. */
export interface Link {
  /** Welcomed on an open socket: what is sent now is answered on this connection. */
  readonly live: boolean;
  /** A socket is open, welcomed or not yet: a request sent now gets its answer or the drop. */
  readonly open: boolean;
  /** The last welcomed connection speaks `parley.v2` (true until a welcome says otherwise). */
  readonly v2: boolean;
  /** Send on the open socket; with none, the frame is dropped (each part resends after the next welcome). */
  send(frame: ClientFrame): void;
  /** A ref no other call of this client uses. */
  nextRef(prefix: string): string;
  /** The client's timers, all cleared when a socket drops and on `close()`. */
  readonly timers: Timers;
}
