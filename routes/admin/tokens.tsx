import { Head } from "$fresh/runtime.ts";
import type { Handlers, PageProps } from "$fresh/server.ts";
import Header from "../../components/Header.tsx";
import CopyButton from "../../islands/CopyButton.tsx";
import type { AppState } from "../../lib/server/app.ts";
import { originRefusal } from "../../lib/server/audit.ts";
import { parseTtl, type Principal, roleAllows } from "../../lib/server/auth.ts";
import { BodyError, readForm } from "../../lib/server/body.ts";
import { FlightdeckError } from "../../lib/server/errors.ts";
import { refuseCrossOrigin } from "../../lib/server/http_security.ts";
import {
  type AgentOnboarding,
  agentOnboarding,
} from "../../lib/server/onboarding.ts";
import { MintSchema, type TokenRecord } from "../../lib/server/tokens.ts";

/** What was just created: shown once, never again. */
type Created =
  | { kind: "agent"; record: TokenRecord; onboarding: AgentOnboarding }
  | { kind: "user"; record: TokenRecord; token: string; link: string };

interface TokensData {
  tokens: TokenRecord[];
  created: Created | null;
  error: string | null;
  message: string | null;
}

function forbidden(ctx: { state: AppState; remoteAddr: Deno.NetAddr }) {
  const { app, user } = ctx.state;
  app.audit.refusal({
    actor: user?.id ?? null,
    role: user?.role ?? null,
    address: ctx.remoteAddr.hostname,
    connectionId: null,
    action: "access.refused",
    target: { path: "/admin/tokens" },
    outcome: "refused",
    detail: { reason: "role" },
  });
  return new Response("Only admins may manage tokens\n", {
    status: 403,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

/**
 * `/admin/tokens` (admin): create an agent (mints its token and shows the
 * command to run it), mint sign-in tokens for people, list and revoke
 * tokens minted here. Mints and revocations are audited.
 */
export const handler: Handlers<TokensData, AppState> = {
  async GET(_req, ctx) {
    const { app, user } = ctx.state;
    if (!user || !roleAllows(user.role, "admin")) return forbidden(ctx);
    return ctx.render({
      tokens: await app.tokens.list(),
      created: null,
      error: null,
      message: null,
    });
  },
  async POST(req, ctx) {
    const { app, user } = ctx.state;
    if (!user || !roleAllows(user.role, "admin")) return forbidden(ctx);
    const refused = refuseCrossOrigin(req, app.config);
    if (refused) {
      app.audit.refusal(originRefusal(req, ctx.remoteAddr.hostname, user));
      return refused;
    }
    let form;
    try {
      form = await readForm(req, undefined, app.config.bodyTimeoutMs);
    } catch (error) {
      if (error instanceof BodyError) return error.toResponse();
      throw error;
    }
    const answer = async (
      status: number,
      part: Partial<TokensData>,
    ) =>
      await ctx.render({
        tokens: await app.tokens.list(),
        created: null,
        error: null,
        message: null,
        ...part,
      }, { status });
    const action = form.get("action");
    const who = {
      actor: user.id,
      role: user.role,
      address: ctx.remoteAddr.hostname,
      connectionId: null,
    };
    if (action === "revoke") {
      const id = form.get("id") ?? "";
      try {
        const record = await app.tokens.revoke(id, user.id);
        app.audit.record({
          ...who,
          action: "token.revoke",
          target: {
            tokenId: id,
            user: record.subject,
            ...(record.agentId ? { agentId: record.agentId } : {}),
          },
          outcome: "ok",
        });
        return await answer(200, {
          message: `Revoked the token of ${record.subject}`,
        });
      } catch (error) {
        if (!(error instanceof FlightdeckError)) throw error;
        return await answer(404, { error: error.message });
      }
    }
    if (action !== "create-agent" && action !== "create-user") {
      return await answer(400, { error: `Unknown action "${action ?? ""}"` });
    }
    return await create(ctx, user, form, who, answer);
  },
};

async function create(
  ctx: { state: AppState; url: URL },
  user: Principal,
  form: URLSearchParams,
  who: {
    actor: string;
    role: Principal["role"];
    address: string;
    connectionId: null;
  },
  answer: (status: number, part: Partial<TokensData>) => Promise<Response>,
): Promise<Response> {
  const { app } = ctx.state;
  const agent = form.get("action") === "create-agent";
  let ttlSeconds: number;
  try {
    ttlSeconds = parseTtl(form.get("ttl") || (agent ? "30d" : "7d"));
  } catch (error) {
    return await answer(400, { error: (error as Error).message });
  }
  const parsed = MintSchema.safeParse(
    agent ? { role: "agent", agentId: form.get("name") ?? "", ttlSeconds } : {
      role: form.get("role") ?? "",
      user: form.get("user") ?? "",
      ttlSeconds,
    },
  );
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return await answer(400, {
      error: `${issue.path.join(".") || "form"}: ${issue.message}`,
    });
  }
  let minted;
  try {
    minted = await app.tokens.mint(parsed.data, user.id);
  } catch (error) {
    if (error instanceof RangeError || error instanceof FlightdeckError) {
      return await answer(400, { error: error.message });
    }
    throw error;
  }
  const { token, record } = minted;
  app.audit.record({
    ...who,
    action: "token.mint",
    target: {
      tokenId: record.id,
      user: record.subject,
      ...(record.agentId ? { agentId: record.agentId } : {}),
    },
    outcome: "ok",
    detail: { role: record.role, expiresAt: record.expiresAt },
  });
  const origin = ctx.url.origin;
  if (record.role === "agent") {
    return await answer(201, {
      created: {
        kind: "agent",
        record,
        onboarding: agentOnboarding(record.agentId!, token, origin),
      },
    });
  }
  // A one-time link (24 h at most) whose session belongs to this token:
  // revoking the token ends it.
  const code = app.loginCodes.create(
    record.role,
    Math.min(24 * 3600_000, record.expiresAt - Date.now()),
    record.subject,
    { id: record.id, endsAt: record.expiresAt },
  );
  await app.loginCodes.written();
  return await answer(201, {
    created: {
      kind: "user",
      record,
      token,
      link: `${origin}/login?code=${code}`,
    },
  });
}

function when(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").slice(0, 16) + " UTC";
}

function Copyable(
  props: { text: string; label: string; testId: string },
) {
  return (
    <div class="copyable">
      <pre class="mono" data-testid={props.testId}>{props.text}</pre>
      <CopyButton
        text={props.text}
        label={props.label}
        testId={`${props.testId}-copy`}
      />
    </div>
  );
}

function CreatedPanel({ created }: { created: Created }) {
  if (created.kind === "agent") {
    const o = created.onboarding;
    return (
      <section class="panel created" data-testid="created-agent">
        <h2>Agent {created.record.agentId} created</h2>
        <p>
          Copy this now: the token is not shown again. On the agent machine, in
          a checkout of Flightdeck, run:
        </p>
        <Copyable
          text={o.run}
          label="Copy the agent command"
          testId="agent-command"
        />
        <h3>Keep it running</h3>
        <p>Install the agent command once (in the checkout):</p>
        <Copyable
          text={o.install}
          label="Copy the install line"
          testId="agent-install"
        />
        <p>
          Put the token in <code>{o.envFilePath}</code>{" "}
          (mode 0600, owned by root):
        </p>
        <Copyable
          text={o.envFile}
          label="Copy the environment file"
          testId="agent-env-file"
        />
        <p>
          and this unit in <code>{o.unitPath}</code>, then{" "}
          <code>systemctl enable --now {o.unitPath.split("/").at(-1)}</code>:
        </p>
        <Copyable
          text={o.unit}
          label="Copy the systemd unit"
          testId="agent-unit"
        />
      </section>
    );
  }
  return (
    <section class="panel created" data-testid="created-user">
      <h2>
        Sign-in for {created.record.subject} ({created.record.role})
      </h2>
      <p>
        Send this one-time link (valid once, for up to 24 hours); the session it
        starts ends when the token is revoked or expires:
      </p>
      <Copyable
        text={created.link}
        label="Copy the sign-in link"
        testId="user-link"
      />
      <p>Or the token itself, to paste at /login or use as a Bearer token:</p>
      <Copyable
        text={created.token}
        label="Copy the token"
        testId="user-token"
      />
    </section>
  );
}

/** The admin's token page. */
export default function Tokens(
  { data, state }: PageProps<TokensData, AppState>,
) {
  const user = state.user;
  return (
    <div class="layout">
      <Head>
        <title>Tokens · Flightdeck</title>
      </Head>
      <Header
        user={user && user.role !== "agent"
          ? { id: user.id, role: user.role }
          : null}
        title="Tokens"
      />
      <main class="admin">
        {data.error && <p class="error" role="alert">{data.error}</p>}
        {data.message && <p role="status">{data.message}</p>}
        {data.created && <CreatedPanel created={data.created} />}
        <section class="panel">
          <h2>Create an agent</h2>
          <form method="post" data-testid="create-agent-form">
            <input type="hidden" name="action" value="create-agent" />
            <label>
              Agent name{" "}
              <input
                name="name"
                required
                pattern="[A-Za-z0-9._\-]{1,64}"
                placeholder="build-1"
              />
            </label>{" "}
            <label>
              Token lifetime <input name="ttl" value="30d" size={6} />
            </label>{" "}
            <button type="submit" class="button primary">Create agent</button>
          </form>
        </section>
        <section class="panel">
          <h2>Let someone in</h2>
          <form method="post" data-testid="create-user-form">
            <input type="hidden" name="action" value="create-user" />
            <label>
              User name <input name="user" required placeholder="alice" />
            </label>{" "}
            <label>
              Role{" "}
              <select name="role">
                <option value="operator">operator</option>
                <option value="viewer">viewer</option>
                <option value="admin">admin</option>
              </select>
            </label>{" "}
            <label>
              Lifetime <input name="ttl" value="7d" size={6} />
            </label>{" "}
            <button type="submit" class="button primary">
              Create sign-in
            </button>
          </form>
        </section>
        <section class="panel">
          <h2>Tokens minted here</h2>
          {data.tokens.length === 0
            ? <p class="empty">No tokens yet.</p>
            : (
              <table class="table" data-testid="tokens">
                <thead>
                  <tr>
                    <th>Subject</th>
                    <th>Role</th>
                    <th>Minted by</th>
                    <th>Minted (UTC)</th>
                    <th>Expires (UTC)</th>
                    <th>State</th>
                    <th></th>
                  </tr>
                </thead>
                <tbody>
                  {data.tokens.map((t) => (
                    <tr key={t.id} data-token-id={t.id}>
                      <td>{t.subject}</td>
                      <td>{t.role}</td>
                      <td>{t.mintedBy}</td>
                      <td class="mono">{when(t.mintedAt)}</td>
                      <td class="mono">{when(t.expiresAt)}</td>
                      <td>
                        {t.revokedAt === undefined
                          ? "active"
                          : `revoked by ${t.revokedBy}`}
                      </td>
                      <td>
                        {t.revokedAt === undefined && (
                          <form method="post">
                            <input type="hidden" name="action" value="revoke" />
                            <input type="hidden" name="id" value={t.id} />
                            <button
                              type="submit"
                              class="button small danger"
                              data-testid="revoke"
                            >
                              Revoke
                            </button>
                          </form>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
        </section>
      </main>
    </div>
  );
}
