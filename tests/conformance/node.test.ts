import { commands } from "../helpers/runtimes.ts";
import { conformance } from "./suite.ts";

conformance({ name: "node", command: commands.node });
