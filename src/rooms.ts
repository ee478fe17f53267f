/**
 * Where rooms live. `RoomHost` is what the app talks to; `Rooms` hosts every room in one process
 * (Node, Deno, Bun). On Workers each Durable Object hosts its one room behind the same interface.
 */
import type { Config } from "./config.ts";
import { CLOSE, type MessagePage, type RoomInfo } from "./protocol.ts";
import { type JoinRequest, Room } from "./room.ts";
import type { Connection } from "./session.ts";
import type { Store } from "./store/store.ts";

/** The app's view of the rooms: joining, frames, leaving, and the HTTP reads. */
export interface RoomHost {
  /** Open connections from one client address (for the per-address cap). */
  connectionsFrom(ip: string): number;
  join(room: string, conn: Connection, req: JoinRequest): void;
  receive(conn: Connection, data: unknown): void;
  leave(conn: Connection): void;
  info(room: string): RoomInfo;
  page(room: string, limit: number, before?: number): MessagePage;
}

/** Every room of one process. A room with no members leaves memory; its state stays in the store. */
export class Rooms implements RoomHost {
  private readonly rooms = new Map<string, Room>();
  private readonly perAddress = new Map<string, number>();
  private nextCid = 0;

  constructor(
    private readonly store: Store,
    private readonly config: Config,
  ) {}

  connectionsFrom(ip: string): number {
    return this.perAddress.get(ip) ?? 0;
  }

  join(name: string, conn: Connection, req: JoinRequest): void {
    const room = this.rooms.get(name) ?? new Room(name, this.store, this.config);
    this.rooms.set(name, room);
    if (room.join(conn, req, String(++this.nextCid))) {
      this.perAddress.set(req.ip, this.connectionsFrom(req.ip) + 1);
    } else if (room.size === 0) this.rooms.delete(name);
  }

  receive(conn: Connection, data: unknown): void {
    const record = conn.load();
    if (record) this.rooms.get(record.room)?.receive(conn, data);
  }

  leave(conn: Connection): void {
    const record = conn.load();
    const room = record && this.rooms.get(record.room);
    if (!record || !room?.leave(conn)) return;
    const left = this.connectionsFrom(record.ip) - 1;
    if (left > 0) this.perAddress.set(record.ip, left);
    else this.perAddress.delete(record.ip);
    if (room.size === 0) this.rooms.delete(record.room);
  }

  info(name: string): RoomInfo {
    const room = this.rooms.get(name);
    if (room) return room.info();
    const meta = this.store.meta(name);
    return { room: name, epoch: meta.epoch, seq: meta.seq, members: [] };
  }

  page(name: string, limit: number, before?: number): MessagePage {
    return this.store.page(name, limit, before);
  }

  /** Rooms held in memory now (for tests and health). */
  get active(): number {
    return this.rooms.size;
  }

  /** Close every socket with 1001 so clients know to resume elsewhere or later. */
  shutdown(): void {
    for (const room of this.rooms.values()) room.closeAll(CLOSE.goingAway, "server shutting down");
  }
}
