/**
 * What the admin token page shows after creating an agent: the command to
 * run on the agent machine (the token passed through the environment), the
 * install line of a persistent agent, and a systemd unit that restarts it.
 *
 * @module
 */

/** Quote `text` for a POSIX shell (single quotes). */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'"'"'`)}'`;
}

/** The texts shown for a new agent. */
export interface AgentOnboarding {
  /** Run in a checkout of Flightdeck on the agent machine. */
  run: string;
  /** Installs `flightdeck-agent` globally (run in the checkout). */
  install: string;
  /** The environment file the unit reads (holds the token; mode 0600). */
  envFile: string;
  envFilePath: string;
  /** A systemd unit running the installed agent, restarted when it exits. */
  unit: string;
  unitPath: string;
}

/**
 * Onboarding texts for agent `agentId` with `token`, connecting to
 * `serverUrl` (the URL the admin reached this server by).
 */
export function agentOnboarding(
  agentId: string,
  token: string,
  serverUrl: string,
): AgentOnboarding {
  const envFilePath = `/etc/flightdeck/${agentId}.env`;
  return {
    run: [
      `export FLIGHTDECK_TOKEN=${shellQuote(token)}`,
      `deno task agent --server ${shellQuote(serverUrl)} --name ${
        shellQuote(agentId)
      }`,
    ].join("\n"),
    install:
      "deno install --global --allow-all --config deno.json --name flightdeck-agent --force agent.ts",
    envFilePath,
    envFile: [
      `FLIGHTDECK_SERVER=${serverUrl}`,
      `FLIGHTDECK_TOKEN=${token}`,
    ].join("\n"),
    unitPath: `/etc/systemd/system/flightdeck-agent-${agentId}.service`,
    unit: [
      "[Unit]",
      `Description=Flightdeck agent ${agentId}`,
      "After=network-online.target",
      "Wants=network-online.target",
      "",
      "[Service]",
      "# The account that ran deno install, and the path it printed.",
      "User=flightdeck",
      `EnvironmentFile=${envFilePath}`,
      `ExecStart=/home/flightdeck/.deno/bin/flightdeck-agent --name ${agentId}`,
      "Restart=always",
      "RestartSec=5",
      "# 3: the token was refused (revoked or expired); 4: refused for good.",
      "RestartPreventExitStatus=3 4",
      "",
      "[Install]",
      "WantedBy=multi-user.target",
    ].join("\n"),
  };
}
