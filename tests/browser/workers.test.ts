import { wranglerDev } from "../helpers/wrangler.ts";
import { browserSuite } from "./suite.ts";

browserSuite({ name: "workers", command: wranglerDev });
