/**
 * Output retention: finished commands' output is deleted once it is older
 * than `maxAgeMs`, and the oldest finished output goes first while the total
 * is over `maxBytes`. Command records stay (status, exit code, sizes); a
 * replay of trimmed output answers with `terminal:gap`.
 *
 * @module
 */
import type { Storage } from "./storage.ts";

/** Limits of {@link enforceRetention}. */
export interface RetentionLimits {
  /** Output of commands finished longer ago than this is deleted. */
  maxAgeMs: number;
  /** Total stored output bytes kept, oldest finished first to go. */
  maxBytes: number;
}

/** What one retention pass did. */
export interface RetentionResult {
  trimmedCommands: number;
  freedBytes: number;
  keptBytes: number;
}

/**
 * Delete output past the limits. Only finished commands are trimmed, oldest
 * first; the walk reads the small `["done"]` index, not every command.
 */
export async function enforceRetention(
  storage: Storage,
  limits: RetentionLimits,
  now: number = Date.now(),
): Promise<RetentionResult> {
  const finished: { id: string; completedAt: number; bytes: number }[] = [];
  let total = 0;
  for await (const entry of storage.finishedWithOutput()) {
    finished.push(entry);
    total += entry.bytes;
  }
  let trimmedCommands = 0;
  let freedBytes = 0;
  for (const { id, completedAt, bytes } of finished) {
    const expired = now - completedAt > limits.maxAgeMs;
    if (!expired && total <= limits.maxBytes) break;
    const stored = await storage.getCommand(id);
    await storage.deleteOutput(id);
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
  return { trimmedCommands, freedBytes, keptBytes: total };
}
