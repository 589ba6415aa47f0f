/**
 * Shared pieces of the fault tests: real agent processes pointed at a server
 * subprocess (or a proxy in front of it), and figure printing.
 *
 * @module
 */
import { AgentProcess } from "../helpers.ts";
import type { ServerProcess } from "./server_process.ts";
import { waitUntil } from "./dashboard.ts";

/**
 * Start a real agent (`deno run -A agent.ts`) with id `name` for `server`,
 * dialing `viaUrl` (e.g. a proxy) instead of the server when given.
 */
export async function startAgent(
  server: ServerProcess,
  name: string,
  viaUrl?: string,
  extra: string[] = [],
): Promise<AgentProcess> {
  const token = await server.token("agent", name);
  return new AgentProcess([
    "--server",
    viaUrl ?? server.url,
    "--token",
    token,
    "--name",
    name,
    ...extra,
  ]);
}

/** Kill an agent for good (SIGCONT first in case it was stopped), bounded. */
export async function killAgent(agent: AgentProcess): Promise<void> {
  try {
    agent.child.kill("SIGCONT");
  } catch {
    // Gone.
  }
  try {
    agent.child.kill("SIGKILL");
  } catch {
    // Gone.
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    agent.status,
    new Promise((r) => timer = setTimeout(r, 5_000)),
  ]);
  clearTimeout(timer);
}

/** Print one measured figure as `FIGURE name=value`. */
export function figure(name: string, value: number | string): void {
  // deno-lint-ignore no-console
  console.log(`FIGURE ${name}=${value}`);
}

/** Resolve after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Random integer in [min, max). */
export function randomInt(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min));
}

export { waitUntil };
