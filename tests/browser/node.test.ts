import { browserSuite } from "./suite.ts";

browserSuite({
  name: "node",
  command: () => ({ cmd: process.execPath, args: ["--import", "tsx", "src/adapter/node/index.ts"] }),
});
