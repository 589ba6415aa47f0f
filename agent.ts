// deno-lint-ignore-file no-console -- the CLI entry point talks on stdout/stderr
/**
 * Flightdeck agent: `deno task agent --name NAME [flags]` (see `--help`).
 * Connects to the server, runs the commands it sends and streams their output.
 *
 * @module
 */
import { HELP, parseCli } from "./lib/agent/cli.ts";
import { EXIT_CODES, startAgent } from "./lib/agent/connection.ts";
import { loadPty } from "./lib/agent/pty_runner.ts";

/** Run the agent CLI; resolves with the process exit code. */
export async function main(args: string[]): Promise<number> {
  const cli = parseCli(args, Deno.env.toObject(), Deno.cwd());
  if (cli.kind === "help") {
    console.log(HELP);
    return EXIT_CODES.OK;
  }
  if (cli.kind === "error") {
    console.error(
      `flightdeck-agent: ${cli.message}. Run with --help for usage.`,
    );
    return EXIT_CODES.USAGE;
  }
  for (const warning of cli.warnings) {
    console.error(`flightdeck-agent: ${warning}`);
  }
  // The token is in `cli.options` now: commands (and the AI CLIs they run)
  // inherit this environment and must not be able to read or print it.
  for (const name of ["FLIGHTDECK_TOKEN", "FLIGHTDECK_TOKEN_FILE"]) {
    Deno.env.delete(name);
  }
  const options = { ...cli.options };
  if (cli.pty) {
    // Fail here, before connecting, rather than in the middle of a command.
    try {
      options.pty = { api: await loadPty(), ...cli.pty };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      console.error(
        `flightdeck-agent: ${message}. Run without --pty and --session.`,
      );
      return EXIT_CODES.USAGE;
    }
  }
  const agent = startAgent(options);
  let stopping = false;
  const onSignal = () => {
    // A second Ctrl-C does not wait for the command to finish.
    if (stopping) Deno.exit(130);
    stopping = true;
    console.error("flightdeck-agent: stopping");
    void agent.stop();
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const code = await agent.done;
  Deno.removeSignalListener("SIGINT", onSignal);
  Deno.removeSignalListener("SIGTERM", onSignal);
  return code;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
