import { commands } from "../helpers/runtimes.ts";
import { conformance } from "./suite.ts";

conformance({
  name: "bun",
  command: commands.bun,
  // Bun rounds an idle timeout of 1–7 s up to 8 s.
  idleTimeoutMs: 8000,
});
