/**
 * The server secret: from configuration, else read from (or generated into)
 * `<dataDir>/secret`, so tokens made by `deno task token` match the server.
 *
 * @module
 */

/** File name of the generated secret inside the data folder. */
export const SECRET_FILE = "secret";

/**
 * Return `configured` if given, else the secret stored in `dataDir`,
 * creating it (mode 0600) on first use.
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
    if (text.length >= 32) return text;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  await Deno.mkdir(dataDir, { recursive: true });
  const secret = randomSecret();
  try {
    await Deno.writeTextFile(path, secret + "\n", {
      mode: 0o600,
      createNew: true,
    });
    return secret;
  } catch (error) {
    // Another process created it first: use theirs.
    if (error instanceof Deno.errors.AlreadyExists) {
      return (await Deno.readTextFile(path)).trim();
    }
    throw error;
  }
}

function randomSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
