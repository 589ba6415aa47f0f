/**
 * A throw-away git repository for tests of what agents report about their
 * working directory.
 *
 * @module
 */

/** Run git in `cwd`; throws with its stderr when it fails. */
export async function git(cwd: string, ...args: string[]): Promise<void> {
  const out = await new Deno.Command("git", {
    args,
    cwd,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
}

/** A git repository on branch `feature/x` with one commit and one changed file. */
export async function dirtyRepo(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "flightdeck-repo-" });
  await git(dir, "init", "-q", "-b", "feature/x");
  await git(dir, "config", "user.email", "t@example.com");
  await git(dir, "config", "user.name", "t");
  await Deno.writeTextFile(`${dir}/a.txt`, "one\n");
  await git(dir, "add", "a.txt");
  await git(dir, "commit", "-q", "-m", "first");
  await Deno.writeTextFile(`${dir}/a.txt`, "two\n");
  return dir;
}
