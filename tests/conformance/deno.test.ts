import { commands } from "../helpers/runtimes.ts";
import { conformance } from "./suite.ts";

conformance({
  name: "deno",
  command: commands.deno,
  skip: {
    "subprotocol: an offer listed without spaces":
      'Deno.upgradeWebSocket splits Sec-WebSocket-Protocol on ", " only and the request headers are immutable, so "foo,parley.v1" gets no subprotocol (browsers send ", ")',
  },
});
