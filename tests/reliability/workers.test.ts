import { commands, WORKERS_OWNS } from "../helpers/runtimes.ts";
import { reliability } from "./suite.ts";

reliability({
  name: "workers",
  command: commands.workers,
  skip: {
    "idle: a silent client is closed while a pong-answering one is kept": WORKERS_OWNS.idle,
    "slow reader: closed with 1013 slow_reader, server memory stays bounded, the others get every message":
      WORKERS_OWNS.sendQueue,
    "graceful shutdown on SIGINT: 1001 for every socket, acked messages kept, exit 0 within 5 s": WORKERS_OWNS.shutdown,
    "graceful shutdown on SIGTERM: 1001 for every socket, acked messages kept, exit 0 within 5 s":
      WORKERS_OWNS.shutdown,
  },
});
