/**
 * For Executor tests with a real PTY: a command record, a polling wait, and
 * an executor whose messages, activity reports and session ends are
 * collected.
 *
 * @module
 */
import type { CommandInfo } from "../protocol.ts";
import type { ActivityState } from "./activity.ts";
import { Executor } from "./executor.ts";
import { createMemoryLogger } from "./logger.ts";
import { loadPty } from "./pty_runner.ts";

/** A running command record `id` of agent `a1`. */
export const commandInfo = (
  id: string,
  text: string,
  kind: CommandInfo["kind"],
) => ({
  id,
  agentId: "a1",
  command: text,
  priority: "normal" as const,
  status: "running" as const,
  requestedBy: "u1",
  requestedAt: 1,
  startedAt: null,
  completedAt: null,
  exitCode: null,
  outputBytes: 0,
  kind,
});

/** Poll `check` every 10 ms until true; fail after `ms`. */
export async function until(
  check: () => boolean,
  what: string,
  ms = 30_000,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`Timed out: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * An Executor of agent type `type` in `cwd` with a real 100x30 PTY; what it
 * sends, the activity it reports and the session ends it reports are kept.
 */
export async function ptyExecutor(type: string, cwd: string) {
  const sent: { type: string; payload: Record<string, unknown> }[] = [];
  const activity: ActivityState[] = [];
  const ends: unknown[] = [];
  const executor = new Executor({
    type,
    cwd,
    graceMs: 500,
    maxBufferBytes: 1 << 20,
    templates: {},
    pty: { api: await loadPty(), cols: 100, rows: 30 },
    logger: createMemoryLogger(),
    send: ({ type, payload }) => {
      sent.push({ type, payload: payload as Record<string, unknown> });
      return 1;
    },
    onActivity: (state) => activity.push(state),
    onSessionEnd: (completion) => ends.push(completion),
  });
  return { executor, sent, activity, ends };
}
