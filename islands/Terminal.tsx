import { effect } from "@preact/signals";
import { useEffect, useRef, useState } from "preact/hooks";
import { getClient } from "../lib/client/client.ts";
import type { OutputEvent } from "../lib/client/output_store.ts";
import { stores } from "../lib/client/stores.ts";
import { openLink } from "../lib/client/links.ts";
import { TerminalBuffer } from "../lib/client/terminal_buffer.ts";
import {
  commandFooter,
  commandHeader,
  isInView,
  planResync,
  viewCommandIds,
} from "../lib/client/terminal_view.ts";
import { FINAL_STATUSES } from "../lib/protocol.ts";

/** Props of {@link Terminal}. */
export interface TerminalProps {
  /** Pre-selected agent (agent page). */
  agentId?: string | null;
  /** Pre-selected command. */
  commandId?: string | null;
}

// Dark theme with ANSI colors readable on the panel background (GitHub dark).
const THEME = {
  background: "#0d1117",
  foreground: "#c9d1d9",
  cursor: "#c9d1d9",
  selectionBackground: "#264f78",
  black: "#484f58",
  red: "#ff7b72",
  green: "#3fb950",
  yellow: "#d29922",
  blue: "#58a6ff",
  magenta: "#bc8cff",
  cyan: "#39c5cf",
  white: "#b1bac4",
  brightBlack: "#6e7681",
  brightRed: "#ffa198",
  brightGreen: "#56d364",
  brightYellow: "#e3b341",
  brightBlue: "#79c0ff",
  brightMagenta: "#d2a8ff",
  brightCyan: "#56d4dd",
  brightWhite: "#f0f6fc",
};

const dim = (text: string) => `\x1b[2m${text}\x1b[0m\r\n`;

/** Quiet time after a (re)connection before the view is checked again. */
const RESYNC_DEBOUNCE_MS = 300;

/** xterm.js showing the selected agent's (or command's) output, live. */
export default function Terminal(props: TerminalProps) {
  const container = useRef<HTMLDivElement>(null);
  const [state, setState] = useState<"loading" | "ready" | "failed">("loading");

  useEffect(() => {
    if (props.agentId) stores.selectedAgentId.value = props.agentId;
    if (props.commandId) stores.selectedCommandId.value = props.commandId;
    getClient();
    const cleanups: (() => void)[] = [];
    let disposed = false;
    mount().catch(() => !disposed && setState("failed"));
    return () => {
      disposed = true;
      cleanups.forEach((fn) => fn());
    };

    async function mount() {
      const [xterm, fit, links] = await Promise.all([
        import("@xterm/xterm"),
        import("@xterm/addon-fit"),
        import("@xterm/addon-web-links"),
      ]);
      if (disposed || !container.current) return;
      // The UMD build may arrive as a default export depending on the bundler.
      const XTerm = xterm.Terminal ??
        (xterm as unknown as { default: typeof xterm }).default.Terminal;
      const term = new XTerm({
        convertEol: true,
        disableStdin: true,
        cursorBlink: false,
        scrollback: 10_000,
        fontSize: 13,
        fontFamily:
          'ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace',
        theme: THEME,
        // OSC 8 hyperlinks from the output: ask with the full URL first.
        linkHandler: {
          activate: (_event, text) => openLink(text),
          allowNonHttpProtocols: false,
        },
      });
      const fitAddon = new fit.FitAddon();
      term.loadAddon(fitAddon);
      // Plain-text URLs in the output: the same question before opening.
      term.loadAddon(new links.WebLinksAddon((_event, uri) => openLink(uri)));
      term.open(container.current);
      (globalThis as { __flightdeckTerminal?: unknown }).__flightdeckTerminal =
        term;
      const buffer = new TerminalBuffer(term);
      cleanups.push(() => {
        buffer.dispose();
        term.dispose();
      });

      let frame = 0;
      const refit = () => {
        cancelAnimationFrame(frame);
        frame = requestAnimationFrame(() => {
          try {
            fitAddon.fit();
          } catch { /* container hidden: keep the old size */ }
        });
      };
      refit();
      const observer = new ResizeObserver(refit);
      observer.observe(container.current);
      cleanups.push(() => observer.disconnect());

      let written = new Set<string>();
      /** Commands whose footer is on screen: never written twice. */
      let footers = new Set<string>();
      let lastWritten: string | null = null;
      let placeholder = false;
      let rerenderTimer: ReturnType<typeof setTimeout> | undefined;
      let resyncTimer: ReturnType<typeof setTimeout> | undefined;
      let resyncing = false;

      const block = (id: string, justStarted = false) => {
        const command = stores.commands.peek().get(id);
        const cached = stores.output.text(id);
        if (!cached && !justStarted) stores.output.ensure(id);
        let footer = "";
        if (command && FINAL_STATUSES.has(command.status)) {
          footer = commandFooter(command);
          footers.add(id);
        }
        return commandHeader(command, id) + (cached ?? []).join("") + footer;
      };

      const currentIds = () =>
        viewCommandIds(
          stores.commands.peek().values(),
          stores.selectedAgentId.peek(),
          stores.selectedCommandId.peek(),
        );

      const render = () => {
        clearTimeout(rerenderTimer);
        buffer.clear();
        // Reset in-band (RIS) so writes xterm has queued but not parsed yet
        // land before it, not after a synchronous term.reset().
        buffer.write("\x1bc");
        written = new Set();
        footers = new Set();
        lastWritten = null;
        const agentId = stores.selectedAgentId.peek();
        const ids = currentIds();
        placeholder = ids.length === 0;
        if (placeholder) {
          buffer.write(
            dim(
              agentId
                ? "No output yet for this agent."
                : "Select an agent to see its output.",
            ),
          );
        }
        for (const id of ids) {
          buffer.write((lastWritten ? "\r\n" : "") + block(id));
          written.add(id);
          lastWritten = id;
        }
      };
      const rerenderSoon = () => {
        clearTimeout(rerenderTimer);
        rerenderTimer = setTimeout(render, 50);
      };
      cleanups.push(() => clearTimeout(rerenderTimer));

      // After a (re)connection the snapshot re-sends every status: commands
      // that started or finished while away never emitted `started`, and a
      // command drawn as it started may have output we never got. Once the
      // snapshot is quiet, redraw if the view changed, else fetch what the
      // shown commands miss.
      const resync = () => {
        resyncing = false;
        const plan = planResync(
          currentIds(),
          written,
          (id) => stores.output.text(id) !== undefined,
        );
        if (plan.rerender) return render();
        for (const id of plan.fetch) stores.output.ensure(id);
      };
      const resyncSoon = () => {
        resyncing = true;
        clearTimeout(resyncTimer);
        resyncTimer = setTimeout(resync, RESYNC_DEBOUNCE_MS);
      };
      cleanups.push(() => clearTimeout(resyncTimer));
      cleanups.push(getClient().on("connection:ack", resyncSoon));

      const onEvent = (event: OutputEvent) => {
        const view = {
          agentId: stores.selectedAgentId.peek(),
          commandId: stores.selectedCommandId.peek(),
        };
        if (!isInView(view, event)) return;
        if (placeholder) return render();
        if (!written.has(event.commandId)) {
          // A new command in view: its header, then everything cached so far.
          buffer.write(
            (lastWritten ? "\r\n" : "") +
              block(event.commandId, event.kind === "started"),
          );
          written.add(event.commandId);
          lastWritten = event.commandId;
        } else if (event.kind !== "started") {
          const command = stores.commands.peek().get(event.commandId);
          const finished = command !== undefined &&
            FINAL_STATUSES.has(command.status);
          // Live output appends; replayed output of an earlier or finished
          // command (whose footer is already out) redraws the view.
          if (lastWritten === event.commandId && !finished) {
            buffer.write(event.text);
          } else rerenderSoon();
        }
      };
      cleanups.push(stores.output.subscribe(onEvent));
      cleanups.push(
        getClient().on("command:status", (m) => {
          const c = m.payload.command;
          if (resyncing) resyncSoon(); // still in the snapshot: wait for it
          if (!FINAL_STATUSES.has(c.status) || !written.has(c.id)) return;
          if (footers.has(c.id)) return; // re-sent status (reconnect, snapshot)
          if (lastWritten === c.id) {
            buffer.write(commandFooter(c));
            footers.add(c.id);
          } else rerenderSoon();
        }),
      );
      cleanups.push(effect(() => {
        void stores.selectedAgentId.value;
        void stores.selectedCommandId.value;
        render();
      }));
      // Commands seeded after the first render fill an empty view.
      cleanups.push(effect(() => {
        void stores.commands.value;
        if (placeholder) rerenderSoon();
      }));
      setState("ready");
    }
  }, []);

  const agentId = stores.selectedAgentId.value ?? props.agentId ?? null;
  const commandId = stores.selectedCommandId.value;
  const agent = agentId ? stores.agents.value.get(agentId) : undefined;
  return (
    <section class="panel terminal-panel" aria-label="Terminal">
      <div class="panel-title terminal-title">
        <span>
          {commandId
            ? `Command ${commandId}`
            : agent
            ? `${agent.name} — live output`
            : "Terminal"}
        </span>
        {commandId && (
          <button
            type="button"
            class="link"
            onClick={() => (stores.selectedCommandId.value = null)}
          >
            back to live output
          </button>
        )}
        {state === "failed" && (
          <span class="text-error">terminal failed to load</span>
        )}
      </div>
      <div
        class="terminal"
        ref={container}
        data-testid="terminal"
        data-state={state}
      />
    </section>
  );
}
