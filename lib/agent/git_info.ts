/**
 * The git state of the agent's working directory (branch, commit, dirty),
 * read with one `git status --porcelain=v2 --branch` and reported in
 * `agent:connect` and `agent:git`.
 *
 * @module
 */
import type { GitInfo } from "../protocol.ts";

/** Most bytes of `git status` output read: the headers come first. */
const MAX_READ_BYTES = 64 * 1024;
/** How long one `git status` may take before it is given up. */
const DEFAULT_TIMEOUT_MS = 5000;

/**
 * Parse the output of `git status --porcelain=v2 --branch`: the
 * `# branch.head` and `# branch.oid` headers, and any entry line (changed,
 * staged, unmerged or untracked) as dirty. Returns null without a
 * `# branch.head` header.
 */
export function parseGitStatus(text: string): GitInfo | null {
  let branch: string | null = null;
  let commit: string | undefined;
  let dirty = false;
  for (const line of text.split("\n")) {
    if (line.startsWith("# branch.head ")) {
      const head = line.slice("# branch.head ".length).trim();
      // Detached: "(detached)"; shown as HEAD, as `git branch` does.
      branch = head === "(detached)" ? "HEAD" : head.slice(0, 255);
    } else if (line.startsWith("# branch.oid ")) {
      const oid = line.slice("# branch.oid ".length).trim();
      if (/^[0-9a-f]{4,64}$/.test(oid)) commit = oid.slice(0, 12);
    } else if (line.length > 0 && !line.startsWith("#")) {
      dirty = true;
    }
  }
  if (!branch) return null;
  return commit ? { branch, commit, dirty } : { branch, dirty };
}

/**
 * The git state of `cwd`, or null when it is not inside a git repository,
 * git is not installed, or git fails or takes longer than `timeoutMs`.
 * Reads at most 64 KiB of git's output (the headers and enough entries to
 * know the tree is dirty), then stops git. Never throws.
 */
export async function readGitInfo(
  cwd: string,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<GitInfo | null> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("git", {
      // No fsmonitor: a repository's config must not make a status run a
      // program of its choosing.
      args: [
        "-c",
        "core.fsmonitor=false",
        "status",
        "--porcelain=v2",
        "--branch",
      ],
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
      env: { GIT_OPTIONAL_LOCKS: "0", LC_ALL: "C" },
    }).spawn();
  } catch {
    return null;
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
  }, timeoutMs);
  try {
    const chunks: Uint8Array[] = [];
    let size = 0;
    let cut = false;
    const reader = child.stdout.getReader();
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
      if (size >= MAX_READ_BYTES) {
        cut = true;
        await reader.cancel();
        try {
          child.kill("SIGKILL");
        } catch { /* already exited */ }
        break;
      }
    }
    const status = await child.status;
    if (!cut && !status.success) return null;
    const bytes = new Uint8Array(size);
    let at = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, at);
      at += chunk.length;
    }
    return parseGitStatus(new TextDecoder().decode(bytes));
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
  }
}
