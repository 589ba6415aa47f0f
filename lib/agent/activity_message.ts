/**
 * The `agent:activity` message of an activity state. Its own module so that
 * the connection imports it without loading the headless terminal
 * (`@xterm/headless`; measured: an agent on pipes idles at about 5 MiB
 * less resident memory without it), which only `--pty` and
 * `--session` agents need (lib/agent/terminal_io.ts, loaded on demand).
 *
 * @module
 */
import type { ActivityState } from "./activity.ts";
import { type FromAgent, fromAgent } from "../protocol.ts";

/** The `agent:activity` message for `state` (empty fields left out). */
export function activityMessage(
  state: ActivityState,
): FromAgent<"agent:activity"> {
  return fromAgent("agent:activity", {
    activity: state.activity,
    ...(state.attention !== null ? { attention: state.attention } : {}),
    ...(state.options.length > 0 ? { options: state.options } : {}),
  });
}
