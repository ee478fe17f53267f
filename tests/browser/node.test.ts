import { runtimes } from "../helpers/runtimes.ts";
import { browserSuite } from "./suite.ts";

browserSuite(runtimes.node);
