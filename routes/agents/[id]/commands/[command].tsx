import { Head } from "$fresh/runtime.ts";
import type { Handlers, PageProps } from "$fresh/server.ts";
import Header from "../../../../components/Header.tsx";
import type { PageUser } from "../../../../components/page_state.ts";
import StatusBadge from "../../../../components/StatusBadge.tsx";
import LogView from "../../../../islands/LogView.tsx";
import {
  commandDuration,
  formatClock,
  shortCommand,
} from "../../../../lib/client/format.ts";
import {
  BLOCK_LINES,
  type LinesResponse,
} from "../../../../lib/client/log_window.ts";
import { recordingUrl } from "../../../../lib/client/recording.ts";
import type { CommandInfo } from "../../../../lib/protocol.ts";
import type { AppState } from "../../../../lib/server/app.ts";
import { openLog } from "../../../../lib/server/command_log.ts";
import { windowBody } from "../../../../lib/server/log_lines.ts";

interface LogPageData {
  agentId: string;
  agentName: string;
  record: CommandInfo;
  initial: LinesResponse;
  now: number;
  user: PageUser | null;
}

export const handler: Handlers<LogPageData, AppState> = {
  async GET(_req, ctx) {
    const { app } = ctx.state;
    const agentId = ctx.params.id;
    const record = await app.commands.get(ctx.params.command);
    if (!record || record.agentId !== agentId) return ctx.renderNotFound();
    const log = await openLog(app, record.id);
    // The first block, so the page paints lines before any request.
    const initial = await windowBody(
      app.storage.output,
      log,
      log.bounds.start,
      BLOCK_LINES - (log.bounds.start % BLOCK_LINES),
    );
    return ctx.render({
      agentId,
      agentName: app.registry.get(agentId)?.name ?? agentId,
      record,
      initial,
      now: Date.now(),
      user: ctx.state.user && ctx.state.user.role !== "agent"
        ? { id: ctx.state.user.id, role: ctx.state.user.role }
        : null,
    });
  },
};

/** One command's (or prompt's) complete log. */
export default function CommandLogPage(
  { data }: PageProps<LogPageData>,
) {
  const { record, agentId, agentName } = data;
  const running = record.status === "running" || record.status === "queued";
  const title = shortCommand(record.command, 80);
  return (
    <div class="layout">
      <Head>
        <title>{title} · {agentName} · Flightdeck</title>
        <link rel="stylesheet" href="/log.css" />
      </Head>
      <Header user={data.user} title={agentName} />
      <main class="log-page">
        <section class="panel log-head" data-testid="log-head">
          <p class="muted">
            <a href={`/agents/${encodeURIComponent(agentId)}`}>
              {agentName}
            </a>{" "}
            · {record.kind ?? "exec"} ·{" "}
            <span class="mono" title="Command id">{record.id}</span>
          </p>
          <h1 class="mono log-title" title={record.command}>{title}</h1>
          <p>
            <StatusBadge status={record.status} />{" "}
            <span class="muted">
              requested {formatClock(record.requestedAt)} UTC by{" "}
              {record.requestedBy}
              {record.exitCode !== null && record.exitCode !== undefined &&
                ` · exit ${record.exitCode}`} ·{" "}
              {commandDuration(record, data.now)}
            </span>
          </p>
          <p class="log-downloads">
            <a
              href={recordingUrl(record.id, "raw")}
              download
              data-testid="log-download-raw"
              title="The output as the agent sent it, with escape sequences"
            >
              Download raw
            </a>{" "}
            <a
              href={recordingUrl(record.id, "txt")}
              download
              data-testid="log-download-txt"
              title="The output as plain text (escape sequences removed)"
            >
              Download text
            </a>{" "}
            <a
              href={recordingUrl(record.id, "cast")}
              download
              title="An asciicast recording (plays in asciinema)"
            >
              Download cast
            </a>{" "}
            <a href="/search">Search all commands</a>
          </p>
        </section>
        <LogView
          commandId={record.id}
          initial={data.initial}
          running={running}
        />
      </main>
    </div>
  );
}
