// deno-lint-ignore-file no-console -- CLI entry point: stdout and stderr are its interface
/**
 * `deno task token --role viewer|operator|admin|agent [--user NAME] [--agent-id ID] [--ttl 1h]`
 * prints a token signed with the server secret on its last stdout line, or
 * writes it to a file only its owner can read (`--out FILE`). The mint is
 * recorded in the server's store (audit trail and `/admin/tokens`, where it
 * can be revoked) when that store is reachable, also while the server runs;
 * stderr says whether it was.
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import { Auth, formatTtl, osUserName, parseTtl } from "./lib/server/auth.ts";
import { loadConfig } from "./lib/server/config.ts";
import { loadSecret, sharedSecret } from "./lib/server/secret.ts";
import { connectRedis } from "./lib/server/redis_storage.ts";
import { RedisKv } from "./lib/server/redis_kv.ts";
import { redactUrl } from "./lib/server/services.ts";
import { recordCliMint } from "./lib/server/cli_mint.ts";
import { RoleSchema } from "./lib/protocol.ts";

const HELP =
  `Usage: deno task token --role ROLE [--user NAME] [--agent-id ID] [--ttl DURATION] [--out FILE]

Prints a token signed with the server secret (FLIGHTDECK_SECRET, or the one
stored in FLIGHTDECK_DATA, default ./data) on the last line of stdout, or
writes it to FILE with mode 0600 (--out). The mint is recorded in the
server's store (its audit trail, and /admin/tokens, where it can be revoked)
when the store can be opened, also while the server runs; stderr says whether
it was.

  --role ROLE       viewer | operator | admin | agent (required)
  --agent-id ID     the agent id the token may register (required for agent)
  --ttl DURATION    lifetime: 90s, 15m, 1h, 30d (default: 1h; 30d for agents;
                    at most FLIGHTDECK_MAX_TOKEN_TTL, default 90d). A
                    running agent renews its token before it expires.
  --user NAME       the person's name: shown in the dashboard and recorded
                    as the actor of everything done with the token
                    (default: the role name). --subject is the same flag.
  --out FILE        write the token to FILE (created or replaced, mode 0600;
                    relative to the folder deno task was started in)
                    instead of stdout; use it with agent --token-file FILE
  --help            this text

Examples:
  deno task token --role operator --user alice --ttl 7d
  deno task token --role agent --agent-id build-1 --out build-1.token
  deno task agent --token-file build-1.token --name build-1`;

const FlagsSchema = z.object({
  role: RoleSchema,
  "agent-id": z.string().regex(
    /^[A-Za-z0-9._-]{1,64}$/,
    "letters, digits, . _ - (1-64)",
  )
    .optional(),
  ttl: z.string().optional(),
  user: z.string().trim().min(1).max(128).optional(),
  out: z.string().min(1).optional(),
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
        user: { type: "string" },
        subject: { type: "string" },
        out: { type: "string" },
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
  // --subject is the older name of --user.
  const { subject: alias, ...rest } = values;
  if (alias !== undefined && rest.user !== undefined && alias !== rest.user) {
    fail("--user and --subject name different users");
  }
  const flags = FlagsSchema.safeParse({ ...rest, user: rest.user ?? alias });
  if (!flags.success) {
    const issue = flags.error.issues[0];
    fail(`--${issue.path.join(".")}: ${issue.message}`);
  }
  const { role, ttl, user: subject, out } = flags.data;
  const agentId = flags.data["agent-id"];
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  let ttlSeconds: number;
  try {
    ttlSeconds = ttl ? parseTtl(ttl) : role === "agent" ? 30 * 86400 : 3600;
  } catch (error) {
    fail(`--ttl: ${error instanceof Error ? error.message : error}`);
  }
  if (ttlSeconds > config.maxTokenTtlSeconds) {
    fail(
      `--ttl: "${ttl}" is over the maximum of ${
        formatTtl(config.maxTokenTtlSeconds)
      } (FLIGHTDECK_MAX_TOKEN_TTL, which the server also enforces)`,
    );
  }
  // Cluster mode: the servers' shared store and, without
  // FLIGHTDECK_SECRET, the secret they agreed on in Redis.
  const redis = config.redisUrl ? connectRedis(config.redisUrl) : null;
  let secret: string;
  try {
    secret = config.secret || !redis
      ? await loadSecret(config.dataDir, config.secret)
      : await sharedSecret(redis);
  } catch (error) {
    redis?.disconnect();
    fail(
      `Cannot read the secret from Redis at ${redactUrl(config.redisUrl!)}: ${
        error instanceof Error ? error.message : error
      }`,
    );
  }
  const auth = new Auth(secret, {
    maxTtlSeconds: config.maxTokenTtlSeconds,
  });
  let minted;
  try {
    minted = await recordCliMint(config, auth, {
      ...(redis
        ? {
          shared: {
            kv: new RedisKv(redis),
            name: `Redis ${redactUrl(config.redisUrl!)}`,
          },
        }
        : {}),
      request: role === "agent"
        ? { role, agentId: agentId!, ttlSeconds }
        : { role, user: subject ?? role, ttlSeconds },
      // The person at the server's shell: the admin the sign-in link names.
      mintedBy: config.adminUser ?? osUserName() ?? "admin",
    });
  } catch (error) {
    redis?.disconnect();
    fail(`--ttl: ${error instanceof Error ? error.message : error}`);
  } finally {
    await redis?.quit().catch(() => redis.disconnect());
  }
  const token = "token" in minted
    ? minted.token
    : await auth.sign({ role, agentId, subject, ttlSeconds });
  if (!("token" in minted)) {
    console.error(
      `Not recorded in the audit trail nor listed on /admin/tokens: ${minted.notRecorded}`,
    );
  } else if (minted.auditError) {
    console.error(
      `Listed on /admin/tokens (id ${minted.record.id}, store ${minted.store}), but not recorded in the audit trail: ${minted.auditError}`,
    );
  } else {
    console.error(
      `Recorded in the audit trail and listed on /admin/tokens (id ${minted.record.id}, store ${minted.store})`,
    );
  }
  const expires = new Date(Date.now() + ttlSeconds * 1000).toISOString();
  const who = `${role}${agentId ? ` ${agentId}` : ""}${
    subject ? ` (user ${subject})` : ""
  }`;
  if (out) {
    // `deno task` runs in the project folder; INIT_CWD is where it was typed.
    const initCwd = Deno.env.get("INIT_CWD");
    const path = out.startsWith("/") || !initCwd ? out : `${initCwd}/${out}`;
    await writePrivate(path, token);
    console.error(`Token for ${who}, expires ${expires}, written to ${path}`);
  } else {
    console.error(`Token for ${who}, expires ${expires}:`);
    console.log(token);
  }
}

/** Write `text` to `path` readable by its owner only (0600, also when it existed). */
async function writePrivate(path: string, text: string): Promise<void> {
  try {
    const file = await Deno.open(path, {
      write: true,
      create: true,
      truncate: true,
      mode: 0o600,
    });
    try {
      if (Deno.build.os !== "windows") await Deno.chmod(path, 0o600);
      await file.write(new TextEncoder().encode(text + "\n"));
    } finally {
      file.close();
    }
  } catch (error) {
    fail(
      `--out: cannot write "${path}": ${
        error instanceof Error ? error.message : error
      }`,
    );
  }
}
