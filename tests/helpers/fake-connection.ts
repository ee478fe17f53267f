/**
 * A socket stand-in for unit tests of the room engine: it records what the room sends and closes, and
 * keeps its session record in a field, as a runtime keeps it with its socket.
 */
import assert from "node:assert/strict";
import type { ServerFrame, WelcomeFrame } from "../../src/protocol/index.ts";
import type { Connection, SessionRecord } from "../../src/session.ts";

/** One fake connection. */
export class FakeConnection implements Connection {
  /** Every frame ever sent, and those not yet taken. */
  readonly log: ServerFrame[] = [];
  sent: ServerFrame[] = [];
  closed: { code: number; reason: string }[] = [];
  record: SessionRecord | undefined;
  /** What `bufferedAmount()` reports (a test sets it to play a slow reader). */
  buffered = 0;
  send(frame: string) {
    const parsed = JSON.parse(frame) as ServerFrame;
    this.log.push(parsed);
    this.sent.push(parsed);
  }
  close(code: number, reason: string) {
    this.closed.push({ code, reason });
  }
  bufferedAmount() {
    return this.buffered;
  }
  load() {
    return this.record;
  }
  save(record: SessionRecord) {
    this.record = record;
  }
  /** The frames sent since the last call. */
  take(): ServerFrame[] {
    return this.sent.splice(0);
  }
  /** The first frame, which must be the welcome. */
  get welcome(): WelcomeFrame {
    const first = this.log[0];
    assert.equal(first?.type, "welcome");
    return first as WelcomeFrame;
  }
  get user() {
    return this.welcome.you;
  }
  /** The user id of the record (after a join). */
  get uid(): string {
    return this.record?.uid as string;
  }
}
