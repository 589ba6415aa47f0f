// deno-lint-ignore-file no-console -- CLI entry point: stdout and stderr are its interface
/**
 * `deno task token --role viewer|operator|admin|agent [--agent-id ID] [--ttl 1h]`
 * prints a token signed with the server secret on its last stdout line.
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import { Auth, parseTtl } from "./lib/server/auth.ts";
import { loadConfig } from "./lib/server/config.ts";
import { loadSecret } from "./lib/server/secret.ts";
import { RoleSchema } from "./lib/protocol.ts";

const HELP =
  `Usage: deno task token --role ROLE [--agent-id ID] [--ttl DURATION] [--subject NAME]

Prints a token signed with the server secret (FLIGHTDECK_SECRET, or the one
stored in FLIGHTDECK_DATA, default ./data) on the last line of stdout.

  --role ROLE       viewer | operator | admin | agent (required)
  --agent-id ID     the agent id the token may register (required for agent)
  --ttl DURATION    lifetime: 90s, 15m, 1h, 30d (default: 1h; 30d for agents)
  --subject NAME    user name shown in the dashboard (default: the role)
  --help            this text

Example:
  deno task token --role agent --agent-id build-1 --ttl 30d`;

const FlagsSchema = z.object({
  role: RoleSchema,
  "agent-id": z.string().regex(
    /^[A-Za-z0-9._-]{1,64}$/,
    "letters, digits, . _ - (1-64)",
  )
    .optional(),
  ttl: z.string().optional(),
  subject: z.string().min(1).max(128).optional(),
}).refine((f) => f.role !== "agent" || f["agent-id"], {
  message: "--agent-id is required with --role agent",
  path: ["agent-id"],
});

function fail(message: string): never {
  console.error(`flightdeck token: ${message}\n\n${HELP}`);
  Deno.exit(2);
}

if (import.meta.main) {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: {
        role: { type: "string" },
        "agent-id": { type: "string" },
        ttl: { type: "string" },
        subject: { type: "string" },
        help: { type: "boolean" },
      },
      strict: true,
    }));
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  if (values.help) {
    console.log(HELP);
    Deno.exit(0);
  }
  const flags = FlagsSchema.safeParse(values);
  if (!flags.success) {
    const issue = flags.error.issues[0];
    fail(`--${issue.path.join(".")}: ${issue.message}`);
  }
  const { role, ttl, subject } = flags.data;
  const agentId = flags.data["agent-id"];
  let ttlSeconds: number;
  try {
    ttlSeconds = ttl ? parseTtl(ttl) : role === "agent" ? 30 * 86400 : 3600;
  } catch (error) {
    fail(`--ttl: ${error instanceof Error ? error.message : error}`);
  }
  const config = loadConfig();
  const auth = new Auth(await loadSecret(config.dataDir, config.secret));
  const token = await auth.sign({ role, agentId, subject, ttlSeconds });
  const expires = new Date(Date.now() + ttlSeconds * 1000).toISOString();
  console.error(
    `Token for ${role}${agentId ? ` ${agentId}` : ""}, expires ${expires}:`,
  );
  console.log(token);
}
