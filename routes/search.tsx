import { Head } from "$fresh/runtime.ts";
import type { Handlers, PageProps } from "$fresh/server.ts";
import Header from "../components/Header.tsx";
import type { PageUser } from "../components/page_state.ts";
import { shortCommand } from "../lib/client/format.ts";
import { logPageUrl } from "../lib/client/log_window.ts";
import type { AppState } from "../lib/server/app.ts";
import { MAX_QUERY_CHARS } from "../lib/server/command_log.ts";
import type { CommandHit } from "../lib/server/search_index.ts";

interface SearchPageData {
  q: string;
  hits: CommandHit[];
  error: string | null;
  user: PageUser | null;
}

export const handler: Handlers<SearchPageData, AppState> = {
  async GET(_req, ctx) {
    const q = ctx.url.searchParams.get("q") ?? "";
    let hits: CommandHit[] = [];
    let error: string | null = null;
    if (q.length > MAX_QUERY_CHARS) {
      error =
        `Query too long: ${q.length} characters, at most ${MAX_QUERY_CHARS}`;
    } else if (q.trim()) {
      try {
        hits = await ctx.state.app.search.search(q, 50);
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        error = e.message;
      }
    }
    const user = ctx.state.user;
    return ctx.render({
      q,
      hits,
      error,
      user: user && user.role !== "agent"
        ? { id: user.id, role: user.role }
        : null,
    }, { status: error ? 400 : 200 });
  },
};

/** Search across every finished command's text and output. */
export default function SearchPage({ data }: PageProps<SearchPageData>) {
  return (
    <div class="layout">
      <Head>
        <title>Search · Flightdeck</title>
        <link rel="stylesheet" href="/log.css" />
      </Head>
      <Header user={data.user} title="Search" />
      <main class="log-page">
        <section class="panel">
          <form method="get" action="/search" class="log-search">
            <input
              type="search"
              name="q"
              value={data.q}
              maxLength={MAX_QUERY_CHARS}
              aria-label="Search all commands"
              placeholder="Search all commands' text and output"
              data-testid="global-search-input"
            />
            <button type="submit">Search</button>
          </form>
          <p class="muted">
            Finds words (3 or more letters or digits) at the start of words in
            finished commands; each result links to the first line with that
            word.
          </p>
          {data.error && <p class="error" role="alert">{data.error}</p>}
          {data.q && !data.error && data.hits.length === 0 && (
            <p class="empty">No command has that word.</p>
          )}
          {data.hits.length > 0 && (
            <ol class="search-hits" data-testid="global-search-hits">
              {data.hits.map((h) => (
                <li key={h.commandId} data-command-id={h.commandId}>
                  <a
                    href={logPageUrl(
                      h.agentId,
                      h.commandId,
                      h.line || undefined,
                    )}
                    class="mono"
                  >
                    {h.agentId}: {shortCommand(h.command, 80)}
                    {h.line > 0 ? ` · line ${h.line}` : " · command text"}
                  </a>
                  <div class="mono muted search-hit-text">{h.text}</div>
                </li>
              ))}
            </ol>
          )}
        </section>
      </main>
    </div>
  );
}
