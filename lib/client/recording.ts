/**
 * Download addresses of command recordings (`GET
 * /api/commands/:id/recording`, see docs/protocol.md "Recordings").
 *
 * @module
 */

/** A recording's file format: asciicast v2, plain text or raw output. */
export type RecordingFormat = "cast" | "txt" | "raw";

/**
 * The download path of command `commandId`'s recording in `format`.
 *
 * @example
 * ```ts
 * recordingUrl("c-1", "txt"); // "/api/commands/c-1/recording?format=txt"
 * ```
 */
export function recordingUrl(
  commandId: string,
  format: RecordingFormat,
): string {
  return `/api/commands/${
    encodeURIComponent(commandId)
  }/recording?format=${format}`;
}
