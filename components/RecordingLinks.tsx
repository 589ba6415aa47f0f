import { recordingUrl } from "../lib/client/recording.ts";

/**
 * Links of a command's output: `Log` (its log page, every line) and the
 * recording downloads `Cast` (asciicast v2, plays in asciinema) and `Text`
 * (escape sequences removed).
 */
export default function RecordingLinks(
  props: { commandId: string; label?: string },
) {
  const what = props.label ?? "output";
  return (
    <span class="recording-links" data-testid="recording-links">
      <a
        href={`/commands/${encodeURIComponent(props.commandId)}`}
        title={`Open the ${what} as a full log: every line, search, line links`}
        data-testid="log-link"
      >
        Log
      </a>
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
