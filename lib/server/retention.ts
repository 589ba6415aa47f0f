/**
 * Output retention: finished commands' output is deleted once it is older
 * than `maxAgeMs`, and the oldest finished output goes first while the total
 * is over `maxBytes`. Command records stay (status, exit code, sizes); a
 * replay of trimmed output answers with `terminal:gap`.
 *
 * @module
 */
import { FINAL_STATUSES } from "../protocol.ts";
import type { Storage, StoredCommand } from "./storage.ts";

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

/** Delete output past the limits. Running commands are never trimmed. */
export async function enforceRetention(
  storage: Storage,
  limits: RetentionLimits,
  now: number = Date.now(),
): Promise<RetentionResult> {
  const finished: StoredCommand[] = [];
  let total = 0;
  for await (
    const entry of storage.kv.list<StoredCommand>({ prefix: ["cmd"] })
  ) {
    const stored = entry.value;
    if (stored.retainedFromSeq !== undefined) continue; // Already trimmed.
    total += stored.info.outputBytes;
    if (FINAL_STATUSES.has(stored.info.status) && !stored.dispatched) {
      finished
        .push(stored);
    }
  }
  finished.sort((a, b) =>
    (a.info.completedAt ?? 0) - (b.info.completedAt ?? 0)
  );
  let trimmedCommands = 0;
  let freedBytes = 0;
  for (const stored of finished) {
    const expired = now - (stored.info.completedAt ?? 0) > limits.maxAgeMs;
    if (!expired && total <= limits.maxBytes) break;
    await storage.deleteOutput(stored.info.id);
    await storage.saveCommand({
      ...stored,
      retainedFromSeq: (stored.lastSeq ?? 0) + 1,
    });
    total -= stored.info.outputBytes;
    freedBytes += stored.info.outputBytes;
    trimmedCommands++;
  }
  return { trimmedCommands, freedBytes, keptBytes: total };
}
