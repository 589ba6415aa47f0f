// deno-lint-ignore-file no-console -- CLI entry point: stdout and stderr are its interface
/**
 * Production entry: `deno task start`. Builds island bundles when missing,
 * opens ./data, listens on 127.0.0.1:8000 and prints a one-time sign-in URL.
 */
import manifest from "./fresh.gen.ts";
import { serverConfig } from "./fresh.config.ts";
import { startServer } from "./lib/server/app.ts";
import { reduceMemory } from "./lib/gc_nudge.ts";

// Top level, as in Fresh: `deno task dev` starts the server by importing this.
let config;
try {
  config = serverConfig();
} catch (error) {
  console.error(
    `flightdeck: ${error instanceof Error ? error.message : error}`,
  );
  Deno.exit(2);
}
let server;
try {
  server = await startServer(manifest, { config });
} catch (error) {
  if (error instanceof Deno.errors.AddrInUse) {
    console.error(
      `flightdeck: ${config.hostname}:${config.port} is already in use; stop the other process or set PORT`,
    );
    Deno.exit(1);
  }
  throw error;
}
const { services } = server;
// Listen for signals before announcing anything: a SIGTERM right after
// start-up still shuts down cleanly.
let stopping = false;
const stop = async (signal: string) => {
  if (stopping) Deno.exit(1);
  stopping = true;
  console.log(
    `Received ${signal}: closing sockets with 1001 and flushing storage`,
  );
  await server.shutdown();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
const code = services.loginCodes.create("admin");
// Stored (with Redis: usable through every node) before it is printed.
await services.loginCodes.written();
console.log(`Flightdeck listening on ${server.url}`);
console.log(`Data: ${config.dataDir}`);
console.log(
  `Open the dashboard (one-time sign-in link, admin "${services.loginCodes.defaultUser}"): ${server.url}/login?code=${code}`,
);
console.log(
  `Connect an agent: create it at ${server.url}/admin/tokens, or deno task token --role agent --agent-id build-1 --out build-1.token, then deno task agent --server ${server.url} --token-file build-1.token --name build-1`,
);
// Give back what start-up left behind (lib/gc_nudge.ts): an idle server
// holds 8-10 MiB less (bench: 91-94 -> 83-85 MiB).
reduceMemory();
