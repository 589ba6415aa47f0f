import { Head } from "$fresh/runtime.ts";
import type { Handlers, PageProps } from "$fresh/server.ts";
import Header from "../../components/Header.tsx";
import type { AppState } from "../../lib/server/app.ts";
import { AUDIT_ACTIONS, type AuditEntry } from "../../lib/server/audit.ts";
import { encodeCursor, parseAuditQuery } from "../../lib/server/audit_query.ts";
import { roleAllows } from "../../lib/server/auth.ts";

interface AuditData {
  entries: AuditEntry[];
  /** The query string of the next (older) page, or null. */
  next: string | null;
  error: string | null;
  filters: Record<string, string>;
}

const FILTERS = ["actor", "action", "agent", "from", "to"] as const;

/**
 * `/admin/audit` (admin): the audit trail with the filters of
 * `GET /api/audit`, newest first, each entry linking to its command or agent.
 */
export const handler: Handlers<AuditData, AppState> = {
  async GET(_req, ctx) {
    const { app, user } = ctx.state;
    if (!user || !roleAllows(user.role, "admin")) {
      app.audit.refusal({
        actor: user?.id ?? null,
        role: user?.role ?? null,
        address: ctx.remoteAddr.hostname,
        connectionId: null,
        action: "audit.read",
        target: { path: "/admin/audit" },
        outcome: "refused",
        detail: { reason: "role" },
      });
      return new Response("Only admins may read the audit trail\n", {
        status: 403,
        headers: { "content-type": "text/plain; charset=utf-8" },
      });
    }
    const params = ctx.url.searchParams;
    const filters = Object.fromEntries(
      FILTERS.map((f) => [f, params.get(f) ?? ""]),
    );
    const parsed = parseAuditQuery(params);
    if (!parsed.ok) {
      return ctx.render({
        entries: [],
        next: null,
        error: parsed.message,
        filters,
      }, {
        status: 400,
      });
    }
    const page = await app.audit.store.list(parsed.query);
    let next: string | null = null;
    if (page.cursor) {
      const q = new URLSearchParams();
      for (const f of FILTERS) if (filters[f]) q.set(f, filters[f]);
      q.set("cursor", encodeCursor(page.cursor));
      next = q.toString();
    }
    return ctx.render({ entries: page.entries, next, error: null, filters });
  },
};

function Target({ entry }: { entry: AuditEntry }) {
  const { agentId, commandId, user, path, tokenId } = entry.target;
  const agent = agentId ? encodeURIComponent(agentId) : null;
  return (
    <>
      {agent && commandId
        ? (
          <a
            href={`/agents/${agent}/commands/${encodeURIComponent(commandId)}`}
            title={commandId}
          >
            {agentId} / {commandId.slice(0, 8)}
          </a>
        )
        : agent
        ? <a href={`/agents/${agent}`}>{agentId}</a>
        : null}
      {user && <span>{user}</span>}
      {path && <span class="mono">{path}</span>}
      {tokenId && (
        <span class="mono" title={tokenId}>token {tokenId.slice(0, 8)}</span>
      )}
    </>
  );
}

function Detail({ entry }: { entry: AuditEntry }) {
  if (!entry.detail) return null;
  return (
    <span class="mono">
      {Object.entries(entry.detail).map(([k, v]) => `${k}=${v}`).join(" ")}
    </span>
  );
}

/** The audit trail page. */
export default function Audit({ data, state }: PageProps<AuditData, AppState>) {
  const user = state.user;
  const f = data.filters;
  return (
    <div class="layout">
      <Head>
        <title>Audit · Flightdeck</title>
      </Head>
      <Header
        user={user && user.role !== "agent"
          ? { id: user.id, role: user.role }
          : null}
        title="Audit trail"
      />
      <main class="admin">
        <form method="get" class="filters" data-testid="audit-filters">
          <label>
            User <input name="actor" value={f.actor} />
          </label>{" "}
          <label>
            Action{" "}
            <select name="action">
              <option value="">any</option>
              {AUDIT_ACTIONS.map((a) => (
                <option value={a} selected={a === f.action}>{a}</option>
              ))}
            </select>
          </label>{" "}
          <label>
            Agent <input name="agent" value={f.agent} />
          </label>{" "}
          <label>
            From{" "}
            <input name="from" value={f.from} placeholder="2026-01-31T00:00Z" />
          </label>{" "}
          <label>
            To <input name="to" value={f.to} placeholder="ms or ISO date" />
          </label>{" "}
          <button type="submit" class="button">Filter</button>{" "}
          <a
            class="button"
            href={`/api/audit?${new URLSearchParams(
              Object.entries({ ...f, format: "jsonl" }).filter(([, v]) => v),
            )}`}
          >
            Export JSONL
          </a>
        </form>
        {data.error && <p class="error" role="alert">{data.error}</p>}
        {data.entries.length === 0 && !data.error
          ? <p class="empty">No entries.</p>
          : (
            <table class="table" data-testid="audit">
              <thead>
                <tr>
                  <th>Time (UTC)</th>
                  <th>User</th>
                  <th>Role</th>
                  <th>Address</th>
                  <th>Action</th>
                  <th>Target</th>
                  <th>Outcome</th>
                  <th>Detail</th>
                </tr>
              </thead>
              <tbody>
                {data.entries.map((e) => (
                  <tr key={e.id} data-entry-id={e.id} data-action={e.action}>
                    <td class="mono" title={e.connectionId ?? ""}>
                      {new Date(e.time).toISOString().replace("T", " ").slice(
                        0,
                        23,
                      )}
                    </td>
                    <td data-testid="audit-actor">{e.actor ?? "—"}</td>
                    <td>{e.role ?? ""}</td>
                    <td class="mono">{e.address ?? ""}</td>
                    <td class="mono">{e.action}</td>
                    <td>
                      <Target entry={e} />
                    </td>
                    <td>{e.outcome}</td>
                    <td>
                      <Detail entry={e} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        {data.next && (
          <p>
            <a href={`/admin/audit?${data.next}`} data-testid="audit-older">
              Older entries
            </a>
          </p>
        )}
      </main>
    </div>
  );
}
