/**
 * Where rooms live. `RoomService` is what the app talks to; `Rooms` holds every room of one process
 * (Node, Deno, Bun). On Workers each Durable Object holds its one room behind the same interface.
 */
import type { Config } from "./config.ts";
import { randomHex } from "./ids.ts";
import { CLOSE, type MessagePage, type RoomInfo } from "./protocol/index.ts";
import { type Defer, type JoinRequest, type Publish, Room } from "./room.ts";
import type { Connection } from "./session.ts";
import type { Store } from "./store/store.ts";

/** The app's view of the rooms: joining, frames, leaving, and the HTTP reads. */
export interface RoomService {
  /** Open connections from one client address (for the per-address cap). */
  connectionsFrom(ip: string): number;
  join(room: string, conn: Connection, req: JoinRequest): void;
  receive(conn: Connection, data: unknown): void;
  leave(conn: Connection): void;
  info(room: string): RoomInfo;
  history(room: string, limit: number, before?: number): MessagePage;
}

export interface RoomsOptions {
  /**
   * Count a client address's open connections from the platform instead of in memory (a Durable Object
   * counts its sockets by tag, which survives hibernation).
   */
  connectionsFrom?: (ip: string) => number;
  /**
   * When a room commits the says it took in: `boot` passes `setImmediate`, so the says of every socket
   * read in one turn of the event loop share one commit. Default: each at once.
   */
  defer?: Defer;
  /** The runtime's native publish, when it has one; rooms then broadcast to all with it (Bun). */
  publish?: Publish;
}

/**
 * Every room of one process (Node, Deno, Bun) or of one Durable Object. A room with no members leaves
 * memory; its state stays in the store.
 */
export class Rooms implements RoomService {
  private readonly rooms = new Map<string, Room>();
  private readonly perAddress = new Map<string, number>();
  private closing = false;

  constructor(
    private readonly store: Store,
    private readonly config: Config,
    private readonly options: RoomsOptions = {},
  ) {}

  connectionsFrom(ip: string): number {
    return this.options.connectionsFrom?.(ip) ?? this.perAddress.get(ip) ?? 0;
  }

  join(name: string, conn: Connection, req: JoinRequest): void {
    // A socket that connects after the shutdown began gets what every other socket got, before any
    // welcome. Admitted, it would hold the shutdown's wait up to the grace period and then talk to a
    // closed store (found by tests/reliability/limits.ts: Deno and Bun keep accepting meanwhile, and
    // clients reconnect at once on 1001).
    if (this.closing) {
      conn.close(CLOSE.goingAway, "server shutting down");
      return;
    }
    const room = this.open(name);
    // Random connection ids stay unique across a Durable Object's hibernation, where a counter would not.
    if (room.join(conn, req, randomHex(8))) this.count(req.ip, 1);
    else if (room.size === 0) this.rooms.delete(name);
  }

  /** Re-admit a connection that outlived this host's memory (a woken Durable Object), from its record. */
  restore(conn: Connection): void {
    const record = conn.load();
    if (!record) return;
    this.open(record.room).restore(conn);
    this.count(record.ip, 1);
  }

  private open(name: string): Room {
    let room = this.rooms.get(name);
    if (!room) {
      const { defer, publish } = this.options;
      room = new Room(name, { store: this.store, config: this.config, defer, publish });
      this.rooms.set(name, room);
    }
    return room;
  }

  private count(ip: string, delta: number): void {
    const n = (this.perAddress.get(ip) ?? 0) + delta;
    if (n > 0) this.perAddress.set(ip, n);
    else this.perAddress.delete(ip);
  }

  receive(conn: Connection, data: unknown): void {
    const record = conn.load();
    if (record) this.rooms.get(record.room)?.receive(conn, data);
  }

  leave(conn: Connection): void {
    const record = conn.load();
    const room = record && this.rooms.get(record.room);
    if (!record || !room?.leave(conn)) return;
    this.count(record.ip, -1);
    if (room.size === 0) this.rooms.delete(record.room);
  }

  info(name: string): RoomInfo {
    const room = this.rooms.get(name);
    if (room) return room.info();
    const meta = this.store.meta(name);
    return { room: name, epoch: meta.epoch, seq: meta.seq, members: [] };
  }

  history(name: string, limit: number, before?: number): MessagePage {
    return this.store.history(name, limit, before);
  }

  /** Rooms held in memory now (for tests and health). */
  get active(): number {
    return this.rooms.size;
  }

  /** Close every socket with 1001 so clients know to resume elsewhere or later. */
  shutdown(): void {
    this.closing = true;
    for (const room of this.rooms.values()) room.closeAll(CLOSE.goingAway, "server shutting down");
  }
}
