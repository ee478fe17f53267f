import { denoArgs, denoBinary } from "../../scripts/start-deno.ts";
import { conformance } from "./suite.ts";

// Permissions are computed per server from its PARLEY_DB, exactly as `npm run start:deno` does.
conformance({
  name: "deno",
  command: (env) => ({ cmd: denoBinary(), args: denoArgs(env) }),
  skip: {
    "subprotocol: an offer listed without spaces":
      'Deno.upgradeWebSocket splits Sec-WebSocket-Protocol on ", " only and the request headers are immutable, so "foo,parley.v1" gets no subprotocol (browsers send ", ")',
  },
});
