import { recordingUrl } from "../lib/client/recording.ts";

/**
 * Download links of a command's recording: `Cast` (asciicast v2, plays in
 * asciinema) and `Text` (escape sequences removed).
 */
export default function RecordingLinks(
  props: { commandId: string; label?: string },
) {
  const what = props.label ?? "output";
  return (
    <span class="recording-links" data-testid="recording-links">
      <a
        href={recordingUrl(props.commandId, "cast")}
        download
        title={`Download the ${what} as an asciicast (.cast, plays in asciinema)`}
        data-testid="recording-cast"
      >
        Cast
      </a>
      <a
        href={recordingUrl(props.commandId, "txt")}
        download
        title={`Download the ${what} as plain text (.txt)`}
        data-testid="recording-txt"
      >
        Text
      </a>
    </span>
  );
}
