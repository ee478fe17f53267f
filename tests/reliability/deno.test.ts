import { commands } from "../helpers/runtimes.ts";
import { reliability } from "./suite.ts";

reliability({ name: "deno", command: commands.deno });
