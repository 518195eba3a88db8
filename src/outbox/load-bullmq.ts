// The one place the optional peers are loaded. bullmq and ioredis are optional peer dependencies of
// `smtpkit/outbox`: `import "smtpkit"` never reaches this file, and importing `smtpkit/outbox` without them
// fails here with one line that says what to install. Loaded with require() (both ship CommonJS), so the
// module stays free of top-level await and loadable through require(esm).
import { createRequire } from "node:module";

export type BullMQ = typeof import("bullmq");
export type IORedisConstructor = typeof import("ioredis").Redis;

const MISSING =
  "smtpkit/outbox needs the optional peer dependencies bullmq and ioredis: npm install bullmq@^6 ioredis@^5";

function load(): { bullmq: BullMQ; Redis: IORedisConstructor } {
  const require = createRequire(import.meta.url);
  try {
    const bullmq = require("bullmq") as BullMQ;
    const ioredis = require("ioredis") as typeof import("ioredis");
    return { bullmq, Redis: ioredis.Redis };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "MODULE_NOT_FOUND" || code === "ERR_MODULE_NOT_FOUND") {
      // one clear line; the resolver's own message (with its require stack) stays available as the cause
      const missing = new Error(MISSING, { cause: error });
      missing.stack = `Error: ${MISSING}`;
      throw missing;
    }
    throw error;
  }
}

export const { bullmq, Redis } = load();
