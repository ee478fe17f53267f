import { conformance } from "./suite.ts";

conformance({
  name: "bun",
  command: () => ({ cmd: "node_modules/.bin/bun", args: ["src/adapter/bun/index.ts"] }),
  // Bun rounds an idle timeout of 1–7 s up to 8 s.
  idleTimeoutMs: 8000,
});
