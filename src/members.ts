/**
 * Who is in one room: its connections, the users they belong to (presence is per user, so a user in
 * two tabs is one member), and the users connected from each address group. Pure bookkeeping, kept
 * apart from the room's ordering so that each stays small; the room decides what a change means.
 */
import type { User } from "./protocol/index.ts";
import { type Connection, type SessionRecord, userOf } from "./session.ts";

/** One open connection of the room. */
export interface Member {
  conn: Connection;
  uid: string;
  /** It speaks v2: it gets every kind of entry, not only messages. */
  v2: boolean;
}

/** A user in the room now, with every connection they have open here. */
export interface Present {
  user: User;
  cids: Set<string>;
  /** Whether they ever made an entry: a guest who did is never forgotten. */
  posted: boolean;
  /** When they joined, as a number that only grows: the cursor of a `members` page. */
  order: number;
}

/** One page of the room's users in join order. */
export interface UserPage {
  members: User[];
  count: number;
  /** The cursor after the page's last user, when more follow. */
  next?: number;
}

/** The members of one room. */
export class Members {
  private readonly connections = new Map<string, Member>();
  private readonly users = new Map<string, Present>();
  /** Per address group, the users connected from it and how many connections each has from it. */
  private readonly groups = new Map<string, Map<string, number>>();
  /** Connections speaking v1, so a frame for them is serialized only when one is here. */
  private v1Count = 0;
  private joins = 0;

  /** Connections in the room. */
  get size(): number {
    return this.connections.size;
  }

  /** Whether a v1 connection is here (a v1 form of an entry is needed), and a v2 one. */
  get speaks(): { v1: boolean; v2: boolean } {
    return { v1: this.v1Count > 0, v2: this.connections.size > this.v1Count };
  }

  /** Users in the room. */
  get userCount(): number {
    return this.users.size;
  }

  /** Whether connection `cid` is here. */
  has(cid: string): boolean {
    return this.connections.has(cid);
  }

  /** The user `uid`, if connected. */
  user(uid: string): Present | undefined {
    return this.users.get(uid);
  }

  /** Every connected user, each once, as copies. */
  list(): User[] {
    return [...this.users.values()].map((u) => ({ ...u.user }));
  }

  /**
   * Up to `limit` users who joined after cursor `after` (from the first when undefined), in join order.
   * The map keeps insertion order, and a user who comes back is inserted again with a new `order`, so the
   * walk needs no sort; it stops at the page's end, so the first page costs the same in any room.
   */
  page(after: number | undefined, limit: number): UserPage {
    const members: User[] = [];
    let last: number | undefined;
    let more = false;
    for (const present of this.users.values()) {
      if (after !== undefined && present.order <= after) continue;
      if (members.length >= limit) {
        more = true;
        break;
      }
      members.push({ ...present.user });
      last = present.order;
    }
    const page: UserPage = { members, count: this.users.size };
    if (more && last !== undefined) page.next = last;
    return page;
  }

  /** Every connection. */
  all(): IterableIterator<Member> {
    return this.connections.values();
  }

  /** The open connections of user `uid`. */
  *of(uid: string): Generator<Connection> {
    for (const cid of this.users.get(uid)?.cids ?? []) {
      const member = this.connections.get(cid);
      if (member) yield member.conn;
    }
  }

  /** The address groups user `uid` is connected from. */
  groupsOf(uid: string): string[] {
    return [...this.groups].filter(([, users]) => users.has(uid)).map(([group]) => group);
  }

  /** How many users are connected from `group`, and whether `uid` is one of them. */
  fromGroup(group: string, uid?: string): { users: number; includes: boolean } {
    const users = this.groups.get(group);
    return { users: users?.size ?? 0, includes: uid !== undefined && (users?.has(uid) ?? false) };
  }

  /** Add a connection; returns true when it is its user's first here (they joined). */
  add(conn: Connection, record: SessionRecord, posted: boolean): boolean {
    this.connections.set(record.cid, { conn, uid: record.uid, v2: record.v === 2 });
    if (record.v !== 2) this.v1Count++;
    let fromGroup = this.groups.get(record.group);
    if (!fromGroup) {
      fromGroup = new Map();
      this.groups.set(record.group, fromGroup);
    }
    fromGroup.set(record.uid, (fromGroup.get(record.uid) ?? 0) + 1);
    const present = this.users.get(record.uid);
    if (present) {
      present.cids.add(record.cid);
      return false;
    }
    this.users.set(record.uid, { user: userOf(record), cids: new Set([record.cid]), posted, order: ++this.joins });
    return true;
  }

  /** Remove a connection; returns its user when it was their last one here (they left). */
  remove(record: SessionRecord): Present | undefined {
    if (this.connections.delete(record.cid) && record.v !== 2) this.v1Count--;
    const fromGroup = this.groups.get(record.group);
    const n = (fromGroup?.get(record.uid) ?? 1) - 1;
    if (n > 0) fromGroup?.set(record.uid, n);
    else fromGroup?.delete(record.uid);
    if (fromGroup?.size === 0) this.groups.delete(record.group);
    const present = this.users.get(record.uid);
    present?.cids.delete(record.cid);
    if (!present || present.cids.size > 0) return undefined;
    this.users.delete(record.uid);
    return present;
  }
}
