import { runtimes } from "../helpers/runtimes.ts";
import { conformance } from "./suite.ts";

conformance(runtimes.workers);
