/**
 * Tokens minted on the server's shell (`deno task token`) recorded like the
 * admin page's: listed in the {@link TokenRegistry} (so `/admin/tokens`
 * shows and revokes them) and written to the audit trail as `token.mint`.
 * The store is the server's own (the same `FLIGHTDECK_DATA` /
 * `FLIGHTDECK_KV`); SQLite lets this second process open it while the
 * server runs. In cluster mode (`FLIGHTDECK_REDIS_URL`) it is the store the
 * servers share in Redis (see `shared` below).
 *
 * @module
 */
import { AuditTrail, KvAuditStore } from "./audit.ts";
import type { Auth } from "./auth.ts";
import { AuthSessions } from "./auth_sessions.ts";
import type { Config } from "./config.ts";
import { kvFilePath, openKv } from "./data_dir.ts";
import type { KvLike } from "./redis_kv.ts";
import { type MintRequest, type TokenRecord, TokenRegistry } from "./tokens.ts";

/** What {@link recordCliMint} did. */
export type CliMint =
  | {
    token: string;
    record: TokenRecord;
    /** Where it was recorded (the store's file). */
    store: string;
    /** Set when the token is listed but its audit entry failed. */
    auditError?: string;
  }
  | {
    /** Why nothing was recorded (the caller signs an unlisted token). */
    notRecorded: string;
  };

/**
 * Sign a token for `request` through the token registry of the store
 * `config` names and audit the mint as `mintedBy` (role admin, no address:
 * the server's shell). Never throws for a store it cannot use: returns why.
 */
export async function recordCliMint(
  config: Config,
  auth: Auth,
  options: {
    request: MintRequest;
    mintedBy: string;
    /** The shared store (cluster mode) to record in, and its name. */
    shared?: { kv: KvLike; name: string };
  },
): Promise<CliMint> {
  if (options.shared) {
    return await recordIn(
      config,
      auth,
      options,
      options.shared.kv,
      options.shared.name,
    );
  }
  if (config.kvPath === ":memory:" || config.dataDir === ":memory:") {
    return {
      notRecorded:
        "the server's store is in memory (FLIGHTDECK_KV or FLIGHTDECK_DATA is :memory:), so no other process can reach it",
    };
  }
  const store = kvFilePath(config);
  let kv: Deno.Kv;
  try {
    kv = await openKv(config);
  } catch (error) {
    return { notRecorded: `cannot open the store "${store}": ${text(error)}` };
  }
  try {
    return await recordIn(config, auth, options, kv, store);
  } finally {
    kv.close();
  }
}

/** Mint and audit in `kv`, named `store` in messages. */
async function recordIn(
  config: Config,
  auth: Auth,
  options: { request: MintRequest; mintedBy: string },
  kv: KvLike,
  store: string,
): Promise<CliMint> {
  const sessions = new AuthSessions(kv, auth, {
    accessTtlSeconds: config.accessTtlSeconds,
    sessionTtlSeconds: config.sessionTtlSeconds,
    maxSessionsPerParent: config.maxSessionsPerToken,
  });
  let minted;
  try {
    minted = await new TokenRegistry(kv, auth, sessions).mint(
      options.request,
      options.mintedBy,
    );
  } catch (error) {
    if (error instanceof RangeError) throw error; // A bad lifetime.
    return { notRecorded: `the store "${store}" refused: ${text(error)}` };
  }
  const { token, record } = minted;
  let auditError: string | undefined;
  const audit = new AuditTrail(new KvAuditStore(kv), {
    retentionMs: config.auditRetentionMs,
    refusalsPerMinute: config.auditRefusalsPerMinute,
    onError: (error) => auditError = text(error),
  });
  audit.record({
    actor: options.mintedBy,
    role: "admin",
    address: null,
    connectionId: null,
    action: "token.mint",
    target: {
      tokenId: record.id,
      user: record.subject,
      ...(record.agentId ? { agentId: record.agentId } : {}),
    },
    outcome: "ok",
    detail: { role: record.role, expiresAt: record.expiresAt, via: "cli" },
  });
  await audit.close();
  return { token, record, store, ...(auditError ? { auditError } : {}) };
}

function text(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
