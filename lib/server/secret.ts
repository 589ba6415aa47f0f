/**
 * The server secret: from configuration, else read from (or generated into)
 * `<dataDir>/secret`, so tokens made by `deno task token` match the server.
 *
 * @module
 */

import type { Redis } from "ioredis";
import { ensurePrivateDir, ensurePrivateFile } from "./data_dir.ts";

/** File name of the generated secret inside the data folder. */
export const SECRET_FILE = "secret";

/**
 * Return `configured` if given, else the secret stored in `dataDir`,
 * creating it (mode 0600, in a 0700 folder) on first use; an existing file
 * that others could read is tightened to 0600.
 */
export async function loadSecret(
  dataDir: string,
  configured?: string,
): Promise<string> {
  if (configured) return configured;
  if (dataDir === ":memory:") return randomSecret();
  const path = `${dataDir}/${SECRET_FILE}`;
  try {
    const text = (await Deno.readTextFile(path)).trim();
    if (text.length >= 32) {
      await ensurePrivateFile(path);
      return text;
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  await ensurePrivateDir(dataDir);
  const secret = randomSecret();
  // Write a temp file, then link it into place: the link fails if another
  // process got there first, and nobody ever reads a half-written file.
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(tmp, secret + "\n", {
    mode: 0o600,
    createNew: true,
  });
  try {
    await Deno.link(tmp, path);
    return secret;
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    const theirs = (await Deno.readTextFile(path)).trim();
    if (theirs.length < 32) {
      throw new RangeError(
        `Secret file "${path}" holds fewer than 32 characters`,
      );
    }
    return theirs;
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}

function randomSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Redis key (after the store prefix) of the secret nodes agree on. */
export const REDIS_SECRET_KEY = "secret";

/**
 * The secret every server sharing `redis` signs with when none is
 * configured: the first node to start stores a random one (`SET NX`), and
 * every node, then and later, reads that one. Redis then holds it: whoever
 * can read that Redis can sign tokens.
 */
export async function sharedSecret(
  redis: Pick<Redis, "set" | "get">,
  prefix = "fd:",
): Promise<string> {
  const key = prefix + REDIS_SECRET_KEY;
  await redis.set(key, randomSecret(), "NX");
  const secret = await redis.get(key);
  if (secret === null || secret.length < 32) {
    throw new RangeError(
      `Redis key "${key}" holds no secret of at least 32 characters`,
    );
  }
  return secret;
}
