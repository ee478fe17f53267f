/**
 * How a room's frames reach its members: one send with the slow-reader check, a broadcast to all (one
 * native publish where the runtime has one), and an entry in the form each protocol version reads.
 * Every frame is serialized once per version that is present, never once per member.
 */
import type { Config } from "./config.ts";
import type { Member, Members } from "./members.ts";
import { meter } from "./metrics.ts";
import { CLOSE, type Entry } from "./protocol/index.ts";
import type { Connection, SessionRecord } from "./session.ts";
import { utf8Length } from "./text.ts";

/** A runtime's native broadcast to every connection that called `subscribe(topic)` (Bun's publish). */
export type Publish = (topic: string, frame: string) => void;

/** A message entry as a v1 connection reads it: v1's fields only, in v1's order. */
function v1Message(e: Entry & { type: "message" }): string {
  const { type, seq, ts, from, text, ref } = e;
  return JSON.stringify(ref === undefined ? { type, seq, ts, from, text } : { type, seq, ts, from, text, ref });
}

/** A room's way out to its members. */
export class Fanout {
  /** Topics for a native publish: everyone, and each protocol version (only v2 gets most entries). */
  private readonly topics: { all: string; 1: string; 2: string };

  constructor(
    room: string,
    private readonly members: Members,
    private readonly config: Config,
    private readonly publish?: Publish,
  ) {
    this.topics = { all: room, 1: `${room}\u0000v1`, 2: `${room}\u0000v2` };
  }

  /** Subscribe a joining connection to its topics, where the host publishes natively. */
  subscribe(conn: Connection, record: SessionRecord): void {
    if (!this.publish) return;
    // A member that cannot subscribe would miss every published frame without a sign.
    if (!conn.subscribe) throw new Error("this host publishes natively, but the connection cannot subscribe");
    conn.subscribe(this.topics.all);
    conn.subscribe(this.topics[record.v === 2 ? 2 : 1]);
  }

  /** Send one committed entry to every member that reads it: a message to all, any other kind to v2. */
  entry(entry: Entry): void {
    const { v1, v2 } = this.members.speaks;
    // A room that speaks one version gets the frame as a broadcast to all (one publish on Bun).
    if (entry.type === "message" && v1) {
      const frame = v1Message(entry);
      if (v2) this.toVersion(1, frame);
      else return this.broadcast(frame);
    }
    if (!v2) return;
    if (v1) this.toVersion(2, JSON.stringify(entry));
    else this.broadcast(JSON.stringify(entry));
  }

  private toVersion(version: 1 | 2, frame: string): void {
    this.toMany(frame, this.topics[version], (m) => m.v2 === (version === 2));
  }

  /** Send one already-serialized frame to every member, except the connections of `exceptUid`. */
  broadcast(frame: string, exceptUid?: string): void {
    this.toMany(frame, exceptUid === undefined ? this.topics.all : undefined, (m) => m.uid !== exceptUid);
  }

  /** Send one frame to the members speaking `version`, except the connections of `exceptUid`. */
  toSpeakers(version: 1 | 2, frame: string, exceptUid?: string): void {
    // Nobody speaks it: no walk over a big room for nothing.
    if (!this.members.speaks[version === 2 ? "v2" : "v1"]) return;
    if (exceptUid === undefined) return this.toVersion(version, frame);
    this.toMany(frame, undefined, (m) => m.v2 === (version === 2) && m.uid !== exceptUid);
  }

  /**
   * The one way a frame reaches many members, so each such frame is counted once, with the connections
   * it went to. Where the host publishes natively and `topic` names exactly the members `wants` picks,
   * that is one publish instead of a send per member. The runtime drops a published frame silently for a
   * socket past its own backpressure limit, which the adapter sets to four times ours and checks before
   * each send; so a recipient whose queue was over ours before this frame is closed now, as `send` would
   * have done, long before the runtime would drop anything for it.
   */
  private toMany(frame: string, topic: string | undefined, wants: (m: Member) => boolean): void {
    let recipients = 0;
    if (this.publish && topic !== undefined) {
      this.publish(topic, frame);
      const bytes = utf8Length(frame);
      for (const member of this.members.all()) {
        if (!wants(member)) continue;
        recipients++;
        if (member.conn.bufferedAmount() - bytes > this.config.maxQueueBytes) this.slowReader(member.conn);
      }
    } else {
      for (const member of this.members.all()) {
        if (!wants(member)) continue;
        recipients++;
        this.send(member.conn, frame);
      }
    }
    // A frame that reached nobody (a `joined` in a room of one) is not a broadcast.
    if (recipients > 0) meter.observe("broadcast_fanout", recipients);
  }

  private slowReader(conn: Connection): void {
    meter.count("slow_reader_closes");
    conn.close(CLOSE.tryAgainLater, "slow_reader");
  }

  /** Send one frame to one connection, closing it first if it is too far behind. */
  send(conn: Connection, frame: string): void {
    // What was already waiting decides, not what this frame adds: one frame can be bigger than the limit
    // on its own (a welcome or history page of long messages), and Deno counts a frame as queued until
    // its write completes, so measuring after the send closed readers that kept up (found by
    // tests/reliability/limits.ts). A reader that is really behind is closed one frame later.
    const waiting = conn.bufferedAmount();
    try {
      conn.send(frame);
    } catch {
      // A socket that fails to take a frame is on its way out; its close event removes it.
      return;
    }
    if (waiting > this.config.maxQueueBytes) this.slowReader(conn);
  }
}
