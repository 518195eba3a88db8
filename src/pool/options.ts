// createPool()'s options: the documented defaults applied and every pool option checked (EINPUT).
import type { ConnectOptions } from "../api/connect.js";
import { inputError } from "../errors.js";
import { RateLimiter } from "./rate-limiter.js";
import type { PoolOptions } from "./types.js";

const DEFAULTS = {
  maxConnections: 5,
  maxMessagesPerConnection: 1000,
  idleTimeout: 30_000,
  throttleTimeout: 600_000,
  connectTimeout: 30_000,
} as const;

export interface PoolSettings {
  maxConnections: number;
  maxMessagesPerConnection: number;
  idleTimeout: number;
  throttleTimeout: number;
  connectTimeout: number;
  maxQueued: number;
  limiter: RateLimiter | undefined;
  /** What connect() gets: everything that is not a pool option. */
  connectOptions: ConnectOptions;
}

export function poolSettings(options: PoolOptions, now: number): PoolSettings {
  if (options === null || typeof options !== "object") throw inputError("createPool() needs options");
  const {
    maxConnections = DEFAULTS.maxConnections,
    maxMessagesPerConnection = DEFAULTS.maxMessagesPerConnection,
    idleTimeout = DEFAULTS.idleTimeout,
    throttleTimeout = DEFAULTS.throttleTimeout,
    maxQueued = Number.POSITIVE_INFINITY,
    rateLimit,
    ...connectOptions
  } = options;
  positiveInteger(maxConnections, "maxConnections");
  positiveInteger(maxMessagesPerConnection, "maxMessagesPerConnection");
  positiveNumber(idleTimeout, "idleTimeout");
  positiveNumber(throttleTimeout, "throttleTimeout");
  if (!(maxQueued === Number.POSITIVE_INFINITY || (Number.isInteger(maxQueued) && maxQueued >= 0)))
    throw inputError("maxQueued must be a whole number ≥ 0");
  return {
    maxConnections,
    maxMessagesPerConnection,
    idleTimeout,
    throttleTimeout,
    connectTimeout: connectOptions.connectTimeout ?? DEFAULTS.connectTimeout,
    maxQueued,
    limiter: rateLimit === undefined ? undefined : new RateLimiter(rateLimit, now),
    connectOptions,
  };
}

function positiveInteger(value: number, name: string): void {
  if (!(Number.isInteger(value) && value > 0)) throw inputError(`${name} must be a positive integer`);
}

function positiveNumber(value: number, name: string): void {
  if (!(typeof value === "number" && value > 0)) throw inputError(`${name} must be a positive number of ms`);
}
