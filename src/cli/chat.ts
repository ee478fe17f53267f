/**
 * `parley-chat chat <url> --room R [--name N]`: a room in a terminal, on the typed client (so it resumes
 * after a restart and delivers each message once). Interactive on a terminal: live messages, presence,
 * typing, the connection's state, and `/rename`, `/history`, `/who`, `/quit`. Piped (stdin is not a
 * terminal, or `--pipe`): each line of stdin is said as a message, and it exits once every one is acked,
 * so scripts and cron jobs can post (`echo deployed | parley-chat chat … --room ops`).
 *
 * Text from the room is shown as text: control characters (a terminal's escape sequences among them) are
 * replaced before anything is printed, so a message cannot move the cursor or recolour the screen.
 */
import { createInterface } from "node:readline";
import {
  connect,
  type Message,
  type ParleyClient,
  ParleyError,
  type SocketConstructor,
  type User,
} from "../client/index.ts";

/** What the command line asked for. */
export interface ChatArgs {
  url: string;
  room: string;
  name?: string;
  token?: string;
  accessToken?: string;
  /** Post stdin's lines and exit (default: when stdin is not a terminal). */
  pipe: boolean;
}

export const USAGE = `usage: parley-chat chat <server url> --room <room> [--name <name>] [--token <reconnect token>]
                        [--access-token <jwt>] [--pipe | --interactive]
  interactive: type to talk; /rename <name>, /history [n], /who, /quit (or Ctrl-D)
  piped:       each line of stdin is posted; exits 0 once all are acked (echo hi | parley-chat chat … --room ops)`;

/** Parse `chat`'s arguments; throws with the usage for anything it does not know. */
export function parseChatArgs(argv: string[], stdinIsTTY: boolean): ChatArgs {
  let url: string | undefined;
  let room: string | undefined;
  const out: Partial<ChatArgs> = {};
  let pipe = !stdinIsTTY;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value\n${USAGE}`);
      return v;
    };
    if (arg === "--room") room = value();
    else if (arg === "--name") out.name = value();
    else if (arg === "--token") out.token = value();
    else if (arg === "--access-token") out.accessToken = value();
    else if (arg === "--pipe") pipe = true;
    else if (arg === "--interactive") pipe = false;
    else if (!arg.startsWith("-") && url === undefined) url = arg;
    else throw new Error(`unknown argument ${arg}\n${USAGE}`);
  }
  if (!url || !room) throw new Error(`a server url and --room are needed\n${USAGE}`);
  if (!/^https?:\/\//.test(url)) throw new Error(`the server url must start with http:// or https://\n${USAGE}`);
  return { ...out, url, room, pipe };
}

/** Text from the room as text: every control character but tab becomes U+FFFD, so nothing reaches the terminal as a command. */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029]/g, "\ufffd");
}

const clock = (ts: number) => new Date(ts).toTimeString().slice(0, 5);
const line = (m: Message) => `[${clock(m.ts)}] ${printable(m.from.name)}: ${printable(m.text)}`;

/** Where the chat writes, and what it runs on (tests pass their own). */
export interface ChatIo {
  input: NodeJS.ReadableStream;
  print: (text: string) => void;
  WebSocket?: SocketConstructor;
}

/** Run the chat until `/quit`, Ctrl-D, or (piped) every line acked; resolves with the exit code. */
export async function runChat(args: ChatArgs, io: ChatIo): Promise<number> {
  const client = connect(args.url, {
    room: args.room,
    name: args.name,
    token: args.token,
    accessToken: args.accessToken,
    WebSocket: io.WebSocket,
  });
  return args.pipe ? piped(client, io) : interactive(client, args, io);
}

/** Say each line of stdin; 0 once all are acked, 1 when one is refused or the client stops. */
async function piped(client: ParleyClient, io: ChatIo): Promise<number> {
  let done = false;
  const stopped = new Promise<number>((resolve) =>
    client.on("state", (s) => {
      if (s.state !== "stopped" || done) return;
      io.print(`parley-chat: stopped (${s.code ?? ""} ${printable(s.reason ?? "")})`.trimEnd());
      resolve(1);
    }),
  );
  const acks: Promise<unknown>[] = [];
  for await (const text of createInterface({ input: io.input, crlfDelay: Number.POSITIVE_INFINITY })) {
    // An empty line would be refused as bad_frame: skipped, as a blank line in a script usually means nothing.
    if (text.trim()) acks.push(client.say(text));
  }
  const sent = Promise.all(acks).then(
    () => 0,
    (err: unknown) => {
      io.print(`parley-chat: ${err instanceof ParleyError ? `${err.code}: ` : ""}${(err as Error).message}`);
      return 1;
    },
  );
  const code = await Promise.race([sent, stopped]);
  done = true;
  client.close();
  return code;
}

/** A room in the terminal until /quit or the end of input. */
async function interactive(client: ParleyClient, args: ChatArgs, io: ChatIo): Promise<number> {
  const { print } = io;
  let state = "";
  client.on("state", (s) => {
    if (s.state === state) return;
    state = s.state;
    const why = s.code !== undefined ? ` (${s.code}${s.reason ? ` ${printable(s.reason)}` : ""})` : "";
    print(`* ${s.state}${why}`);
  });
  client.on("welcome", (w) =>
    print(`* in ${printable(w.room)} as ${printable(w.you.name)}, ${w.memberCount ?? w.members.length} here`),
  );
  client.on("message", (m) => print(line(m)));
  client.on("joined", (f) => print(`* ${printable(f.user.name)} joined`));
  client.on("left", (f) => print(`* ${printable(f.user.name)} left`));
  client.on("renamed", (f) => print(`* ${printable(f.from)} is now ${printable(f.user.name)}`));
  client.on("typing", (f) => print(`* ${printable(f.user.name)} is typing…`));
  client.on("error", (e) => print(`! ${e.code}: ${printable(e.message)}`));

  const input = createInterface({ input: io.input, crlfDelay: Number.POSITIVE_INFINITY });
  const said = (p: Promise<unknown>) => p.catch((err: Error) => print(`! ${printable(err.message)}`));
  for await (const text of input) {
    const [command, ...rest] = text.trim().split(/\s+/);
    if (command === "/quit") break;
    if (command === "/rename") said(client.rename(rest.join(" ")));
    else if (command === "/who")
      print(`* here: ${[...client.members.values()].map((u: User) => printable(u.name)).join(", ")}`);
    else if (command === "/history") {
      const n = Math.min(100, Math.max(1, Number(rest[0]) || 20));
      const oldest = Math.min(...[...client.messages.keys()], client.seq + 1);
      said(
        client.history(oldest, n).then((page) => {
          for (const m of page.messages) print(line(m));
          if (page.messages.length === 0) print("* no older messages");
        }),
      );
    } else if (command?.startsWith("/"))
      print(`! unknown command ${printable(command)}: /rename, /history, /who, /quit`);
    else if (text.trim()) {
      client.typing();
      said(client.say(text));
    }
  }
  client.close();
  print(`* left ${printable(args.room)}`);
  return 0;
}
