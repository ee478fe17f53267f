import { runtimes } from "../helpers/runtimes.ts";
import { reliability } from "./suite.ts";

reliability(runtimes.deno);
