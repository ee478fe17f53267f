import { commands } from "../helpers/runtimes.ts";
import { reliability } from "./suite.ts";

reliability({ name: "bun", command: commands.bun });
