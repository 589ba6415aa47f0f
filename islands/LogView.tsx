import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import {
  defaultSgr,
  findRanges,
  markRanges,
  renderAnsiLine,
  segmentsText,
  type SgrState,
} from "../lib/client/ansi_line.ts";
import {
  lineHash,
  type LinesResponse,
  lineStartStyles,
  type LogHit,
  LogWindow,
  parseLineHash,
} from "../lib/client/log_window.ts";
import { useHydrated } from "../lib/client/use_hydrated.ts";

/** Props of {@link LogView}. */
export interface LogViewProps {
  commandId: string;
  /** The first window, rendered by the server (lines from `firstLine`). */
  initial: LinesResponse;
  /** Whether output may still grow (the log is re-read while it runs). */
  running: boolean;
}

/** Height of one line in pixels (fixed: rows are positioned by number). */
const LINE_PX = 18;
/** Tallest scroll area; longer logs map scroll positions proportionally. */
const MAX_SCROLL_PX = 8_000_000;
/** Lines rendered above and below the visible ones. */
const OVERSCAN = 30;

/**
 * A command's whole log, virtualized: only the visible lines are in the
 * page, fetched by block from the server; line numbers link to `#L12`
 * (shift-click: `#L12-L20`); search runs on the server, hits highlighted,
 * next/previous; copy selected lines.
 */
export default function LogView({ commandId, initial, running }: LogViewProps) {
  const hydrated = useHydrated();
  const win = useMemo(() => {
    const w = new LogWindow(commandId);
    if (initial.lines.length) {
      w.seed(LogWindow.blockOf(initial.lines[0].n), initial);
    }
    return w;
  }, [commandId]);
  const [first, setFirst] = useState(initial.firstLine);
  const [last, setLast] = useState(initial.lastLine);
  const [top, setTop] = useState(0); // virtual px from the first line
  const [viewPx, setViewPx] = useState(600);
  const [, setVersion] = useState(0);
  const [selected, setSelected] = useState(
    null as { from: number; to: number } | null,
  );
  const [query, setQuery] = useState("");
  const [search, setSearch] = useState(
    null as
      | { q: string; hits: LogHit[]; next: number | null; at: number }
      | null,
  );
  const [status, setStatus] = useState("");
  const scroller = useRef<HTMLDivElement>(null);
  const expectScroll = useRef(-1);
  const total = Math.max(0, last - first + 1);
  const virtualPx = total * LINE_PX;
  const scrollPx = Math.min(virtualPx, MAX_SCROLL_PX);

  const toScroll = (v: number) => {
    const room = Math.max(1, virtualPx - viewPx);
    return virtualPx <= MAX_SCROLL_PX
      ? v
      : (v / room) * Math.max(1, scrollPx - viewPx);
  };
  const jumpTo = (line: number) => {
    const el = scroller.current;
    const view = el?.clientHeight || viewPx;
    const v = Math.max(
      0,
      Math.min(
        (line - first) * LINE_PX - view / 3,
        Math.max(0, virtualPx - view),
      ),
    );
    setTop(v);
    if (el) {
      const room = Math.max(1, virtualPx - view);
      const s = virtualPx <= MAX_SCROLL_PX
        ? v
        : (v / room) * Math.max(1, scrollPx - view);
      expectScroll.current = Math.round(s);
      el.scrollTop = s;
    }
  };
  // The hash listener calls the latest jumpTo (it sees the latest sizes).
  const jumpRef = useRef(jumpTo);
  jumpRef.current = jumpTo;

  // Sizes, the hash (now and on change), and growth while running.
  useEffect(() => {
    const el = scroller.current!;
    const resize = () => setViewPx(el.clientHeight || 600);
    resize();
    addEventListener("resize", resize);
    return () => removeEventListener("resize", resize);
  }, []);
  useEffect(() => {
    const apply = () => {
      const range = parseLineHash(location.hash);
      if (!range) return;
      setSelected(range);
      jumpRef.current(range.from);
    };
    apply();
    addEventListener("hashchange", apply);
    return () => removeEventListener("hashchange", apply);
  }, []);
  useEffect(() => {
    if (!running) return;
    const timer = setInterval(async () => {
      try {
        const r = await win.lines(Math.max(last, first), 1);
        if (r.lastLine !== last) {
          win.invalidate(LogWindow.blockOf(Math.max(last, first)));
          setLast(r.lastLine);
          setFirst(r.firstLine);
        }
      } catch { /* retried on the next tick */ }
    }, 2000);
    return () => clearInterval(timer);
  }, [running, last, first]);

  const onScroll = () => {
    const el = scroller.current!;
    if (Math.abs(el.scrollTop - expectScroll.current) <= 1) return;
    expectScroll.current = -1;
    const room = Math.max(1, scrollPx - viewPx);
    setTop(
      virtualPx <= MAX_SCROLL_PX
        ? el.scrollTop
        : (el.scrollTop / room) * Math.max(0, virtualPx - viewPx),
    );
  };

  // The visible lines, from the cache; missing blocks are fetched.
  const startLine = first + Math.floor(top / LINE_PX);
  const fromLine = Math.max(first, startLine - OVERSCAN);
  const toLine = Math.min(
    last,
    startLine + Math.ceil(viewPx / LINE_PX) + OVERSCAN,
  );
  const rows: {
    n: number;
    text: string | null;
    loaded: boolean;
    cut?: number;
    err: boolean;
    style: SgrState;
    gap?: string;
  }[] = [];
  const wanted = new Set<number>();
  for (let n = fromLine; n <= toLine; n++) {
    const block = win.cached(LogWindow.blockOf(n));
    const line = block?.lines.find((l) => l.n === n) ??
      (block ? null : undefined);
    if (line === undefined) wanted.add(LogWindow.blockOf(n));
    const gap = block?.gaps.find((g) => g.beforeLine === n);
    const index = block && line ? block.lines.indexOf(line) : -1;
    rows.push({
      n,
      text: line === undefined ? "" : line?.text ?? null,
      loaded: line !== undefined,
      cut: line?.cut,
      err: line?.err === true,
      // The style at its start: carried from above the block by the server.
      style: index >= 0 ? { ...lineStartStyles(block!)[index] } : defaultSgr(),
      gap: gap ? `seq ${gap.fromSeq}..${gap.toSeq} not received` : undefined,
    });
  }
  useEffect(() => {
    for (const block of wanted) {
      win.load(block).then(() => setVersion((v) => v + 1)).catch((e) =>
        setStatus(`Could not load lines: ${e.message}`)
      );
    }
  }, [fromLine, toLine, wanted.size]);

  const runSearch = async (q: string) => {
    if (!q.trim()) {
      setSearch(null);
      return;
    }
    setStatus("Searching…");
    try {
      // Each request reads a bounded part of the log: go on until a hit or
      // the end.
      let page = await win.search(q, first);
      while (!page.hits.length && page.next !== null) {
        setStatus(`Searching… line ${page.next} of ${last}`);
        page = await win.search(q, page.next);
      }
      setSearch({ q, hits: page.hits, next: page.next, at: 0 });
      setStatus(page.hits.length ? "" : `No lines contain "${q}"`);
      if (page.hits.length) goToHit(page.hits[0].line);
    } catch (e) {
      setStatus(`Search failed: ${(e as Error).message}`);
    }
  };
  const goToHit = (line: number) => {
    history.replaceState(null, "", lineHash(line));
    setSelected({ from: line, to: line });
    jumpTo(line);
  };
  const step = async (delta: number) => {
    if (!search) return;
    let { hits, next, at } = search;
    at += delta;
    while (at >= hits.length && next !== null) {
      setStatus(`Searching… line ${next} of ${last}`);
      const page = await win.search(search.q, next);
      hits = [...hits, ...page.hits];
      next = page.next;
      setStatus("");
    }
    if (at < 0) at = hits.length - 1;
    if (at >= hits.length) at = 0;
    setSearch({ ...search, hits, next, at });
    if (hits[at]) goToHit(hits[at].line);
  };

  const clickNumber = (n: number, e: MouseEvent) => {
    e.preventDefault();
    const range = e.shiftKey && selected
      ? { from: Math.min(selected.from, n), to: Math.max(selected.from, n) }
      : { from: n, to: n };
    setSelected(range);
    history.replaceState(null, "", lineHash(range.from, range.to));
  };
  const copy = async () => {
    const range = selected ??
      {
        from: startLine,
        to: Math.min(last, startLine + Math.ceil(viewPx / LINE_PX)),
      };
    const count = Math.min(2000, range.to - range.from + 1);
    try {
      const r = await win.lines(range.from, count);
      const text = r.lines.map((l) =>
        l.text === null
          ? "[output trimmed]"
          : segmentsText(renderAnsiLine(l.text, defaultSgr()))
      ).join("\n") + "\n";
      await navigator.clipboard.writeText(text);
      setStatus(
        `Copied lines ${range.from}–${range.from + r.lines.length - 1}`,
      );
    } catch (e) {
      setStatus(`Copy failed: ${(e as Error).message}`);
    }
  };

  const rowTop = toScroll(top);
  const offset = (fromLine - first) * LINE_PX - top;
  const currentHit = search?.hits[search.at]?.line;
  return (
    <section class="panel log-view" data-testid="log-view">
      <div class="log-toolbar" role="toolbar" aria-label="Log tools">
        <form
          class="log-search"
          onSubmit={(e) => {
            e.preventDefault();
            runSearch(query);
          }}
        >
          <input
            type="search"
            aria-label="Search the output"
            placeholder="Search the output"
            maxLength={200}
            value={query}
            disabled={!hydrated}
            onInput={(e) => setQuery(e.currentTarget.value)}
            data-testid="log-search-input"
          />
          <button type="submit" disabled={!hydrated}>Search</button>
          <button
            type="button"
            disabled={!hydrated || !search?.hits.length}
            onClick={() => step(-1)}
            aria-label="Previous hit"
            data-testid="log-search-prev"
          >
            ↑
          </button>
          <button
            type="button"
            disabled={!hydrated || !search?.hits.length}
            onClick={() => step(1)}
            aria-label="Next hit"
            data-testid="log-search-next"
          >
            ↓
          </button>
          <span class="muted" data-testid="log-search-count" aria-live="polite">
            {search && search.hits.length > 0 &&
              `${search.at + 1} of ${search.hits.length}${
                search.next !== null ? "+" : ""
              }`}
          </span>
        </form>
        <span class="log-actions">
          <button
            type="button"
            disabled={!hydrated}
            onClick={copy}
            title="Copy the selected lines (click a line number; shift-click for a range) or the visible ones"
            data-testid="log-copy"
          >
            Copy
          </button>
          <span class="muted" data-testid="log-total">
            {total} lines
          </span>
        </span>
      </div>
      <p class="log-status muted" role="status" data-testid="log-status">
        {status}
      </p>
      {initial.removed && (
        <p class="log-gap" data-testid="log-removed">
          [output removed by retention: seq {initial.removed.fromSeq}..
          {initial.removed.toSeq}]
        </p>
      )}
      <div
        class="log-scroll"
        ref={scroller}
        onScroll={onScroll}
        data-testid="log-scroll"
        tabIndex={0}
        aria-label="Command output"
      >
        <div class="log-spacer" style={{ height: `${scrollPx}px` }}>
          <div
            class="log-rows"
            style={{ transform: `translateY(${rowTop + offset}px)` }}
          >
            {rows.map((row) => {
              const cls = [
                "log-line",
                selected && row.n >= selected.from && row.n <= selected.to
                  ? "sel"
                  : "",
                row.n === currentHit ? "hit" : "",
                row.text === null ? "log-gap" : "",
                row.err ? "log-err" : "",
              ].filter(Boolean).join(" ");
              const segments = row.text === null
                ? []
                : renderAnsiLine(row.text, row.style);
              const marked = search && row.text
                ? markRanges(
                  segments,
                  findRanges(segmentsText(segments), search.q),
                )
                : segments.map((s) => ({ ...s, mark: false }));
              return (
                <div
                  class={cls}
                  key={row.n}
                  id={`L${row.n}`}
                  data-line={row.n}
                  data-loaded={row.loaded ? "1" : "0"}
                >
                  <a
                    class="ln"
                    href={lineHash(row.n)}
                    onClick={(e) => clickNumber(row.n, e)}
                  >
                    {row.n}
                  </a>
                  <span class="lt">
                    {row.gap && <span class="log-seqgap">[{row.gap}]</span>}
                    {row.text === null
                      ? "[output trimmed: not stored]"
                      : marked.map((s, i) => {
                        const el = (
                          <span
                            key={i}
                            class={s.cls || undefined}
                            style={s.style || undefined}
                          >
                            {s.text}
                          </span>
                        );
                        return s.mark ? <mark key={i}>{el}</mark> : el;
                      })}
                    {row.cut
                      ? (
                        <span class="muted">
                          … {row.cut} more characters (download to see all)
                        </span>
                      )
                      : null}
                  </span>
                </div>
              );
            })}
          </div>
        </div>
      </div>
    </section>
  );
}
