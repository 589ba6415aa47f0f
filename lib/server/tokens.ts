/**
 * Tokens minted from the admin page: who minted them, for whom, until when,
 * and their revocation. The secret token itself is never stored: it is
 * shown once, when minted.
 *
 * The store (Deno KV, or in cluster mode the shared RedisKv) holds
 * `["tokens", id]` (id = the token's `jti`, its sign-in id)
 * until the token expires. Revoking one marks the sign-in revoked in
 * {@link AuthSessions} (checked on every verify) and closes its open
 * connections (a connected agent is disconnected with 4401).
 *
 * @module
 */
import { z } from "zod";
import { type Role, RoleSchema } from "../protocol.ts";
import type { Auth } from "./auth.ts";
import type { AuthSessions } from "./auth_sessions.ts";
import { FlightdeckError } from "./errors.ts";
import type { KvLike } from "./redis_kv.ts";

/** A minted token as listed (never the token itself). */
export interface TokenRecord {
  /** The token's sign-in id (`jti`). */
  id: string;
  role: Role;
  /** The user name (or `agent:<id>`) the token signs in as. */
  subject: string;
  agentId?: string;
  mintedBy: string;
  mintedAt: number;
  expiresAt: number;
  revokedAt?: number;
  revokedBy?: string;
}

/** Agent ids and user names a token may carry. */
export const AGENT_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** What the admin page asks for. */
export const MintSchema = z.discriminatedUnion("role", [
  z.object({
    role: z.literal("agent"),
    agentId: z.string().trim().regex(
      AGENT_ID_PATTERN,
      "agent name: letters, digits, . _ - (1-64)",
    ),
    ttlSeconds: z.number().int().positive(),
  }),
  z.object({
    role: RoleSchema.exclude(["agent"]),
    user: z.string().trim().min(1, "user name is required").max(128),
    ttlSeconds: z.number().int().positive(),
  }),
]);

/** A valid mint request. */
export type MintRequest = z.infer<typeof MintSchema>;

/** Tokens kept in the listing at most; minting past it is refused. */
export const MAX_TOKENS = 10_000;

/** Tokens minted from the UI, listed and revocable. */
export class TokenRegistry {
  #kv: KvLike;
  #auth: Auth;
  #sessions: AuthSessions;

  constructor(kv: KvLike, auth: Auth, sessions: AuthSessions) {
    this.#kv = kv;
    this.#auth = auth;
    this.#sessions = sessions;
  }

  /**
   * Sign a token for `request` and record it as minted by `mintedBy`.
   *
   * @throws {RangeError} for a lifetime over the maximum.
   * @throws {FlightdeckError} QUEUE_FULL past {@link MAX_TOKENS} listed.
   */
  async mint(
    request: MintRequest,
    mintedBy: string,
  ): Promise<{ token: string; record: TokenRecord }> {
    if ((await this.list()).length >= MAX_TOKENS) {
      throw new FlightdeckError(
        "QUEUE_FULL",
        `${MAX_TOKENS} tokens are listed already; revoke or let some expire`,
      );
    }
    const id = crypto.randomUUID();
    const token = await this.#auth.sign({
      role: request.role,
      ...(request.role === "agent"
        ? { agentId: request.agentId }
        : { subject: request.user }),
      ttlSeconds: request.ttlSeconds,
      sessionId: id,
    });
    const principal = await this.#auth.verify(token);
    const record: TokenRecord = {
      id,
      role: principal.role,
      subject: principal.id,
      ...(principal.agentId ? { agentId: principal.agentId } : {}),
      mintedBy,
      mintedAt: principal.issuedAt,
      expiresAt: principal.expiresAt,
    };
    await this.#kv.set(["tokens", id], record, {
      expireIn: Math.max(1000, record.expiresAt - Date.now()),
    });
    return { token, record };
  }

  /** Every listed token, newest first. */
  async list(): Promise<TokenRecord[]> {
    const records: TokenRecord[] = [];
    for await (
      const entry of this.#kv.list<TokenRecord>({ prefix: ["tokens"] })
    ) {
      if (entry.value.expiresAt > Date.now()) records.push(entry.value);
    }
    return records.sort((a, b) => b.mintedAt - a.mintedAt);
  }

  /** The record of token `id`, or null. */
  async get(id: string): Promise<TokenRecord | null> {
    // Token ids are UUIDs; a longer one (from a form) is none, and would
    // overrun Deno KV's key size.
    if (id.length > 128) return null;
    return (await this.#kv.get<TokenRecord>(["tokens", id])).value;
  }

  /**
   * Revoke token `id`: refused from now on, and its open connections (and
   * the browser sessions started from it) closed before this returns.
   *
   * @throws {FlightdeckError} NOT_FOUND for an unknown or expired token.
   */
  async revoke(id: string, revokedBy: string): Promise<TokenRecord> {
    const record = await this.get(id);
    if (!record || record.expiresAt <= Date.now()) {
      throw new FlightdeckError("NOT_FOUND", `Unknown token "${id}"`);
    }
    if (record.revokedAt === undefined) {
      const revoked = { ...record, revokedAt: Date.now(), revokedBy };
      await this.#kv.set(["tokens", id], revoked, {
        expireIn: Math.max(1000, record.expiresAt - Date.now()),
      });
      await this.#sessions.revoke({
        id: record.subject,
        role: record.role,
        agentId: record.agentId,
        expiresAt: record.expiresAt,
        issuedAt: record.mintedAt,
        sessionId: record.id,
        kind: "token",
      }, "Token revoked");
      return revoked;
    }
    return record;
  }
}
