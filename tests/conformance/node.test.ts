import { conformance } from "./suite.ts";

conformance({
  name: "node",
  command: () => ({ cmd: process.execPath, args: ["--import", "tsx", "src/adapter/node/index.ts"] }),
});
