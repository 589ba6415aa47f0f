/**
 * Server options, from environment variables validated once at start-up
 * (see lib/server/config.ts for every variable and its default).
 */
import { type Config, loadConfig } from "./lib/server/config.ts";

/** The validated configuration of this process. */
export function serverConfig(): Config {
  return loadConfig();
}
