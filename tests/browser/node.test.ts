import { commands } from "../helpers/runtimes.ts";
import { browserSuite } from "./suite.ts";

browserSuite({ name: "node", command: commands.node });
