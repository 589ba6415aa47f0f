/**
 * Retention of finished commands:
 * - a command finished longer ago than `maxAgeMs` is deleted: its record,
 *   its history index entries and its output;
 * - while the total output kept exceeds `maxBytes`, the oldest finished
 *   output is deleted; its command record stays (status, exit code, sizes)
 *   and a replay of that output answers with `terminal:gap`.
 *
 * Running and queued commands are never touched. Both walks read indexes
 * ordered by completion time and stop at the first entry they keep (or at
 * the per-pass budget), so a pass reads what it deletes plus one entry, not
 * the whole history.
 *
 * @module
 */
import type { CommandStore } from "./storage.ts";

/** Limits of {@link enforceRetention}. */
export interface RetentionLimits {
  /** Commands finished longer ago than this are deleted with their output. */
  maxAgeMs: number;
  /** Total stored output bytes kept, oldest finished first to go. */
  maxBytes: number;
  /**
   * Commands deleted or trimmed in one pass at most (default 1000), so a
   * pass (the one at start-up included) stays short; the next pass goes on.
   */
  maxCommandsPerPass?: number;
}

/** What one retention pass did. */
export interface RetentionResult {
  /** Commands deleted (record and output) for their age. */
  deletedCommands: number;
  /** Commands whose output was deleted for the byte limit. */
  trimmedCommands: number;
  /** Output bytes deleted, for age or size. */
  freedBytes: number;
  /** Output bytes of finished commands still kept. */
  keptBytes: number;
}

/** Delete commands and output past the limits, oldest first. */
export async function enforceRetention(
  storage: CommandStore,
  limits: RetentionLimits,
  now: number = Date.now(),
): Promise<RetentionResult> {
  let deletedCommands = 0;
  let trimmedCommands = 0;
  let freedBytes = 0;
  let budget = limits.maxCommandsPerPass ?? 1000;
  // `now - completedAt > maxAgeMs` ⇔ `completedAt < now - maxAgeMs`.
  const expired: string[] = [];
  for await (const id of storage.finishedBefore(now - limits.maxAgeMs)) {
    if (expired.length >= budget) break;
    expired.push(id);
  }
  for (const id of expired) {
    freedBytes += await storage.deleteCommand(id);
    deletedCommands++;
  }
  budget -= deletedCommands;
  let total = await storage.keptBytes();
  if (total > limits.maxBytes && budget > 0) {
    const over: { id: string; bytes: number }[] = [];
    let planned = total;
    for await (const { id, bytes } of storage.finishedWithOutput()) {
      if (planned <= limits.maxBytes || over.length >= budget) break;
      over.push({ id, bytes });
      planned -= bytes;
    }
    for (const { id, bytes } of over) {
      const stored = await storage.getCommand(id);
      await storage.output.delete(id);
      if (stored) {
        await storage.saveCommand({
          ...stored,
          retainedFromSeq: (stored.lastSeq ?? 0) + 1,
        });
      }
      total -= bytes;
      freedBytes += bytes;
      trimmedCommands++;
    }
  }
  return {
    deletedCommands,
    trimmedCommands,
    freedBytes,
    keptBytes: await storage.keptBytes(),
  };
}
