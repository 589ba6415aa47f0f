import type { Handlers } from "$fresh/server.ts";
import type { AppState } from "../../lib/server/app.ts";
import type { GuardStats } from "../../lib/server/conn_guard.ts";

/** `GET /api/metrics`: Prometheus text format. */
export const handler: Handlers<unknown, AppState> = {
  GET: (_req, ctx) => {
    const { registry, dashboards, commands, connections, logForward } =
      ctx.state.app;
    const guard = ctx.state.connections();
    const agents = registry.list();
    const count = (status: string) =>
      agents.filter((a) => a.status === status).length;
    const queued = commands.queuedAgents().reduce(
      (sum, id) => sum + commands.queueOf(id).length,
      0,
    );
    const memory = Deno.memoryUsage();
    const lines = [
      "# HELP flightdeck_agents Agents by status.",
      "# TYPE flightdeck_agents gauge",
      ...["online", "busy", "offline"].map((s) =>
        `flightdeck_agents{status="${s}"} ${count(s)}`
      ),
      "# HELP flightdeck_dashboards Connected dashboards (sockets and SSE sessions).",
      "# TYPE flightdeck_dashboards gauge",
      `flightdeck_dashboards ${dashboards.size}`,
      "# HELP flightdeck_connections Counted sockets and SSE sessions.",
      "# TYPE flightdeck_connections gauge",
      `flightdeck_connections{authenticated="true"} ${
        connections.counts.total - connections.counts.unauthenticated
      }`,
      `flightdeck_connections{authenticated="false"} ${connections.counts.unauthenticated}`,
      "# HELP flightdeck_connections_refused_total Sockets and SSE sessions refused for a connection cap.",
      "# TYPE flightdeck_connections_refused_total counter",
      `flightdeck_connections_refused_total ${connections.counts.refused}`,
      "# HELP flightdeck_log_forward_dropped_total log:forward lines refused (size or rate).",
      "# TYPE flightdeck_log_forward_dropped_total counter",
      `flightdeck_log_forward_dropped_total ${logForward.dropped}`,
      "# HELP flightdeck_commands_queued Commands waiting in queues.",
      "# TYPE flightdeck_commands_queued gauge",
      `flightdeck_commands_queued ${queued}`,
      "# HELP flightdeck_output_unstored_bytes Output received and not stored yet.",
      "# TYPE flightdeck_output_unstored_bytes gauge",
      `flightdeck_output_unstored_bytes ${commands.outputLog.unstoredBytes}`,
      "# HELP flightdeck_output_storage_wait_seconds How long output has waited for the storage (Redis) to come back; 0 while it does not.",
      "# TYPE flightdeck_output_storage_wait_seconds gauge",
      `flightdeck_output_storage_wait_seconds ${
        commands.outputLog.waitingSince === null
          ? 0
          : (Date.now() - commands.outputLog.waitingSince) / 1000
      }`,
      "# HELP flightdeck_process_rss_bytes Resident set size of the server.",
      "# TYPE flightdeck_process_rss_bytes gauge",
      `flightdeck_process_rss_bytes ${memory.rss}`,
      ...(guard ? guardLines(guard) : []),
      "",
    ];
    return new Response(lines.join("\n"), {
      headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
    });
  },
};

function guardLines(c: GuardStats): string[] {
  const metric = (name: string, type: string, help: string, value: number) => [
    `# HELP ${name} ${help}`,
    `# TYPE ${name} ${type}`,
    `${name} ${value}`,
  ];
  return [
    ...metric(
      "flightdeck_connections_open",
      "gauge",
      "TCP connections open at the connection guard.",
      c.open,
    ),
    ...metric(
      "flightdeck_connections_pending",
      "gauge",
      "Connections still waiting for their request head.",
      c.pending,
    ),
    ...metric(
      "flightdeck_tcp_connections_refused_total",
      "counter",
      "TCP connections closed early by the global or per-address cap.",
      c.refused,
    ),
    ...metric(
      "flightdeck_connection_head_timeouts_total",
      "counter",
      "Connections closed for sending no complete request head in time.",
      c.headTimeouts,
    ),
    ...metric(
      "flightdeck_connection_heads_too_large_total",
      "counter",
      "Connections closed for a request head over the limit.",
      c.headTooLarge,
    ),
    ...metric(
      "flightdeck_connection_idle_timeouts_total",
      "counter",
      "Proxied connections closed after the idle or keep-alive timeout.",
      c.idleTimeouts,
    ),
    ...metric(
      "flightdeck_connection_request_timeouts_total",
      "counter",
      "Plain HTTP connections closed for a request unanswered in time.",
      c.requestTimeouts,
    ),
    ...metric(
      "flightdeck_accept_errors_total",
      "counter",
      "Accept errors survived (e.g. too many open files).",
      c.acceptErrors,
    ),
  ];
}
