/**
 * Test helpers that look at real processes through /proc (Linux): whether a
 * command's process group is blocked writing to a full pipe or terminal, and
 * whether a process or group is alive.
 *
 * @module
 */

/** Members of process group `pgid` (from /proc). */
function groupMembers(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) === pgid) pids.push(Number(entry.name));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

/** Whether a member of group `pgid` sleeps in a pipe write (a full pipe). */
export function blockedOnPipe(pgid: number): boolean {
  return blockedIn(pgid, /pipe_write/);
}

/** Whether a member of group `pgid` sleeps in a terminal write (a full PTY). */
export function blockedOnTerminal(pgid: number): boolean {
  return blockedIn(pgid, /tty_write|n_tty|wait_woken/);
}

function blockedIn(pgid: number, wchan: RegExp): boolean {
  return groupMembers(pgid).some((pid) => {
    try {
      return wchan.test(Deno.readTextFileSync(`/proc/${pid}/wchan`));
    } catch {
      return false;
    }
  });
}

/** Whether `pid` is a live (non-zombie) process. */
export function isAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Whether any process of group `pgid` is alive. */
export function isGroupAlive(pgid: number): boolean {
  try {
    Deno.kill(-pgid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}
