import { effect } from "@preact/signals";
import { useEffect, useRef, useState } from "preact/hooks";
import RecordingLinks from "../components/RecordingLinks.tsx";
import { getClient } from "../lib/client/client.ts";
import { cleanPaste } from "../lib/paste.ts";
import type { OutputEvent, ScreenView } from "../lib/client/output_store.ts";
import { stores } from "../lib/client/stores.ts";
import { openLink } from "../lib/client/links.ts";
import { LeaveKeys } from "../lib/client/terminal_keys.ts";
import { useHydrated } from "../lib/client/use_hydrated.ts";
import { TerminalBuffer } from "../lib/client/terminal_buffer.ts";
import {
  commandFooter,
  commandHeader,
  formatBytes,
  fullLogUrl,
  historyText,
  isInView,
  planResync,
  QUIET,
  skipMarker,
  TERMINAL_THEME,
  viewCommandIds,
} from "../lib/client/terminal_view.ts";
import {
  controlErrorText,
  controlView,
  inputChunks,
  quickKeys,
} from "../lib/client/control.ts";
import {
  type CommandInfo,
  FINAL_STATUSES,
  TERMINAL_SIZE,
} from "../lib/protocol.ts";
import { TRIMMED_MARKER } from "../lib/client/output_store.ts";
import { shortCommand } from "../lib/client/format.ts";
import {
  restartErrorText,
  restartView,
} from "../lib/client/session_restart.ts";

/** Props of {@link Terminal}. */
export interface TerminalProps {
  /** Pre-selected agent (agent page). */
  agentId?: string | null;
  /** Pre-selected command. */
  commandId?: string | null;
}

// Dark theme with ANSI colors readable on the panel background (GitHub dark).

const dim = (text: string) => `${QUIET}${text}\x1b[0m\r\n`;

/** Quiet time after a (re)connection before the view is checked again. */
const RESYNC_DEBOUNCE_MS = 300;

/** Envelope ids of this tab's control and input requests kept to match errors. */
const MAX_TRACKED_IDS = 64;

/**
 * Output of `commandId` the live view does not show: `skippedBytes` skipped
 * to keep up (the tab drew slower than output arrived), or older output no
 * longer kept (`truncated`: the tab's cache or xterm's scrollback bound).
 */
interface ViewNotice {
  commandId: string;
  skippedBytes: number;
  truncated: boolean;
}

/** What the island needs of the mounted xterm outside its effect. */
interface Mounted {
  focus(): void;
  size(): { cols: number; rows: number };
}

/** The agent whose terminal this tab controls now, or null. */
function controlledAgent(): string | null {
  const agentId = stores.selectedAgentId.peek();
  if (agentId === null || stores.selectedCommandId.peek() !== null) {
    return null;
  }
  const holder = stores.controllers.peek().get(agentId);
  const me = stores.connectionId.peek();
  return holder && me !== null && holder.connectionId === me ? agentId : null;
}

/**
 * {@link controlledAgent}, and the running effect runs again when any signal
 * it depends on changes.
 */
function watchControlledAgent(): string | null {
  void stores.controllers.value;
  void stores.connectionId.value;
  void stores.selectedAgentId.value;
  void stores.selectedCommandId.value;
  return controlledAgent();
}

/**
 * xterm.js showing the selected agent's (or command's) output, live. An
 * operator or admin may take control of the agent's terminal: while this
 * tab holds it, keystrokes and pastes go to the agent as `terminal:input`,
 * the terminal's size as `terminal:resize`; Tab and Esc are typed into the
 * program, and Esc then Tab (or Ctrl+]) leaves the terminal. Without control the terminal takes
 * no keys, so Tab moves on as usual. A needs-input agent's question shows
 * above the terminal with quick answers: one click takes control (when
 * allowed) and types the answer.
 */
export default function Terminal(props: TerminalProps) {
  const container = useRef<HTMLDivElement>(null);
  const controlButton = useRef<HTMLButtonElement>(null);
  const mounted = useRef<Mounted | null>(null);
  /** Ids of requests this tab sent, to show the errors answering them. */
  const sentIds = useRef<string[]>([]);
  /** Ids of this tab's `session:restart` requests (their errors read differently). */
  const restartIds = useRef<string[]>([]);
  /** Errors at or before this time are dismissed. */
  const [errorsAfter, setErrorsAfter] = useState(0);
  /** A quick answer waiting for this tab's control request to be granted. */
  const pending = useRef<{ agentId: string; data: string } | null>(null);
  const [state, setState] = useState<"loading" | "ready" | "failed">("loading");
  /** Output missing from the view, with a link to the full log. */
  const [notice, setNotice] = useState<ViewNotice | null>(null);
  /**
   * The command in view that started from a screen snapshot and may have
   * older output stored: what "Load earlier output" asks for.
   */
  const [earlier, setEarlier] = useState<
    { commandId: string; beforeSeq: number; loading: boolean } | null
  >(null);
  const hydrated = useHydrated();

  const track = (id: string) => {
    sentIds.current.push(id);
    if (sentIds.current.length > MAX_TRACKED_IDS) sentIds.current.shift();
  };
  const sendInput = (agentId: string, data: string) => {
    for (const chunk of inputChunks(data)) {
      track(getClient().send("terminal:input", { agentId, data: chunk }));
    }
  };
  /** The size last sent to the program ("cols x rows"). */
  const sentSize = useRef("");
  const sendResize = (agentId: string) => {
    const size = mounted.current?.size();
    if (!size) return;
    const cols = Math.min(Math.max(size.cols, 1), TERMINAL_SIZE.maxCols);
    const rows = Math.min(Math.max(size.rows, 1), TERMINAL_SIZE.maxRows);
    sentSize.current = `${cols}x${rows}`;
    track(getClient().send("terminal:resize", { agentId, cols, rows }));
  };
  const requestControl = (agentId: string, take: boolean) => {
    setErrorsAfter(Date.now());
    track(getClient().send("session:control", { agentId, take }));
  };

  // Becoming the holder: type a waiting quick answer, send the size, focus.
  useEffect(() => {
    let wasMine: string | null = null;
    return effect(() => {
      const mine = watchControlledAgent();
      if (mine !== null && mine !== wasMine) {
        sendResize(mine);
        const answer = pending.current;
        pending.current = null;
        if (answer?.agentId === mine) sendInput(mine, answer.data);
        mounted.current?.focus();
      }
      wasMine = mine;
    });
  }, []);

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
        theme: TERMINAL_THEME,
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
      /** What the notice says now (set together with the state). */
      let viewNotice: ViewNotice | null = null;
      const showNotice = (next: ViewNotice | null) => {
        viewNotice = next;
        setNotice(next);
      };
      // Live output xterm cannot keep up with is skipped (see
      // TerminalBuffer): count it, say so in place and above the terminal.
      const buffer = new TerminalBuffer(term, {
        onSkip: (commandId, bytes) => {
          const before = viewNotice?.commandId === commandId
            ? viewNotice
            : null;
          showNotice({
            commandId,
            skippedBytes: (before?.skippedBytes ?? 0) + bytes,
            truncated: before?.truncated ?? false,
          });
        },
        skipMarker,
      });
      // Once xterm's scrollback is full its oldest lines go: say so.
      const onParsed = term.onWriteParsed(() => {
        const full = term.buffer.active.length >=
          (term.options.scrollback ?? 0) + term.rows;
        if (!full || lastWritten === null) return;
        if (viewNotice?.truncated && viewNotice.commandId === lastWritten) {
          return;
        }
        showNotice({
          commandId: lastWritten,
          skippedBytes: viewNotice?.commandId === lastWritten
            ? viewNotice.skippedBytes
            : 0,
          truncated: true,
        });
      });
      cleanups.push(() => onParsed.dispose());
      cleanups.push(() => {
        mounted.current = null;
        buffer.dispose();
        term.dispose();
      });
      mounted.current = {
        focus: () => term.focus(),
        size: () => ({ cols: term.cols, rows: term.rows }),
      };
      // Keys reach xterm only while this tab controls the agent (else Tab
      // moves on as anywhere). In control, Esc and Tab go to the program;
      // Esc then Tab leaves (the browser moves the focus), Ctrl+] leaves
      // for the control button (lib/client/terminal_keys.ts says why).
      const leaveKeys = new LeaveKeys();
      term.attachCustomKeyEventHandler((event) => {
        if (controlledAgent() === null) return false;
        const action = leaveKeys.decide(event);
        if (action === "leave-to-control") {
          if (event.type === "keydown") {
            term.blur();
            controlButton.current?.focus();
          }
          return false;
        }
        return action === "program";
      });
      // Pastes are cleaned before xterm sees them: a clipboard holding
      // `ESC [201~` or Ctrl-C must not end the bracketed paste or act as
      // keys. xterm then brackets the clean text if the program asked.
      const onPaste = (event: ClipboardEvent) => {
        if (controlledAgent() === null) return;
        event.preventDefault();
        event.stopPropagation();
        const text = event.clipboardData?.getData("text/plain") ?? "";
        if (text) term.paste(cleanPaste(text));
      };
      term.element?.addEventListener("paste", onPaste, true);
      cleanups.push(() =>
        term.element?.removeEventListener("paste", onPaste, true)
      );
      // Keystrokes and cleaned pastes go out as xterm encodes them.
      const onData = term.onData((data) => {
        const agentId = controlledAgent();
        if (agentId !== null) sendInput(agentId, data);
      });
      /**
       * While a snapshot is drawn the terminal takes the snapshot's size for
       * a moment: that is not the operator's size and never goes to the
       * program. `true` from the first resize step to the refit after it
       * (or until a re-render drops the queued steps).
       */
      let drawingScreen = false;
      const syncSize = () => {
        const agentId = controlledAgent();
        const size = `${term.cols}x${term.rows}`;
        if (agentId === null || drawingScreen || size === sentSize.current) {
          return;
        }
        sendResize(agentId);
      };
      const onResize = term.onResize(syncSize);
      cleanups.push(() => {
        onData.dispose();
        onResize.dispose();
      });
      cleanups.push(effect(() => {
        term.options.disableStdin = watchControlledAgent() === null;
      }));

      let frame = 0;
      /**
       * The PTY's width when this tab watches (does not control) a running
       * PTY command of known size: its output is laid out for that width.
       */
      const ptyCols = (): number | null => {
        if (controlledAgent() !== null) return null;
        const agentId = stores.selectedAgentId.peek();
        const agent = agentId ? stores.agents.peek().get(agentId) : undefined;
        const commandId = stores.selectedCommandId.peek();
        if (
          !agent?.pty ||
          (commandId !== null && commandId !== agent.currentCommandId)
        ) return null;
        return agent.pty.cols;
      };
      /**
       * Fit the rows to the box; the columns too, unless the PTY is wider:
       * then draw at the PTY's width and scroll sideways in the box (never
       * the page).
       */
      const fitNow = () => {
        try {
          const dims = fitAddon.proposeDimensions();
          if (!dims || !Number.isFinite(dims.cols)) return;
          const wide = ptyCols();
          const cols = wide !== null && wide > dims.cols ? wide : dims.cols;
          if (cols !== term.cols || dims.rows !== term.rows) {
            term.resize(cols, dims.rows);
          }
          container.current?.setAttribute(
            "data-wide",
            cols > dims.cols ? "true" : "false",
          );
        } catch { /* container hidden: keep the old size */ }
      };
      const refit = () => {
        cancelAnimationFrame(frame);
        frame = requestAnimationFrame(fitNow);
      };
      refit();
      const observer = new ResizeObserver(refit);
      observer.observe(container.current);
      cleanups.push(() => observer.disconnect());
      // The PTY's size, the selection or this tab's control changed.
      let lastWide: number | null = null;
      cleanups.push(effect(() => {
        void stores.agents.value;
        void stores.selectedAgentId.value;
        void stores.selectedCommandId.value;
        void watchControlledAgent();
        const wide = ptyCols();
        if (wide !== lastWide) {
          lastWide = wide;
          refit();
        }
      }));

      let written = new Set<string>();
      /** Commands whose footer is on screen: never written twice. */
      let footers = new Set<string>();
      let lastWritten: string | null = null;
      let placeholder = false;
      let rerenderTimer: ReturnType<typeof setTimeout> | undefined;
      let resyncTimer: ReturnType<typeof setTimeout> | undefined;
      let resyncing = false;

      /**
       * Write a screen snapshot as it was taken: at its size, from the
       * top-left of an empty screen (what was on screen scrolls up into the
       * scrollback), then fit the terminal to its box again.
       */
      const writeScreen = (screen: ScreenView) => {
        buffer.run(() => {
          drawingScreen = true;
          try {
            term.resize(screen.cols, screen.rows);
          } catch { /* a size xterm refuses: write at the current one */ }
        });
        buffer.write(
          `\x1b[?1049l\x1b[0m\x1b[${screen.rows};1H` +
            "\n".repeat(screen.rows) + "\x1b[H" + screen.data,
        );
        buffer.run(() => {
          fitNow();
          drawingScreen = false;
          // Back at the box's size: the program hears of it only if that
          // differs from what it was last told.
          syncSize();
        });
      };

      /** Write one command: header, output (or its screen), footer. */
      const writeBlock = (id: string, justStarted = false) => {
        const command = stores.commands.peek().get(id);
        const cached = stores.output.text(id);
        const screen = stores.output.screen(id);
        if (!cached && !justStarted) stores.output.ensure(id);
        let footer = "";
        if (command && FINAL_STATUSES.has(command.status)) {
          footer = commandFooter(command);
          footers.add(id);
        }
        const head = (lastWritten ? "\r\n" : "") + commandHeader(command, id);
        if (cached?.[0] === TRIMMED_MARKER) {
          showNotice({ commandId: id, skippedBytes: 0, truncated: true });
        }
        if (!screen) {
          buffer.write(head + (cached ?? []).join("") + footer);
          return;
        }
        buffer.write(head);
        if (screen.earlier.length > 0) {
          // Older output as recorded; what it once cleared from the screen
          // goes to the scrollback instead of away.
          buffer.run(() => (term.options.scrollOnEraseInDisplay = true));
          buffer.write(
            dim(`[earlier output from seq ${screen.earlierFrom}]`) +
              historyText(screen.earlier.join("")) + "\x1b[0m\r\n" +
              dim(`[the screen at seq ${screen.seq}]`),
          );
          buffer.run(() => (term.options.scrollOnEraseInDisplay = false));
        }
        writeScreen(screen);
        buffer.write((cached ?? []).join("") + footer);
      };

      /** Offer older output of the last command in view drawn from a snapshot. */
      const updateEarlier = (ids: readonly string[]) => {
        const id = ids.findLast((id) => stores.output.screen(id)?.more);
        const screen = id ? stores.output.screen(id) : undefined;
        setEarlier(
          id && screen
            ? { commandId: id, beforeSeq: screen.earlierFrom, loading: false }
            : null,
        );
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
        // A snapshot being drawn lost its closing step with the queue.
        if (drawingScreen) {
          drawingScreen = false;
          fitNow();
          syncSize();
        }
        // Reset in-band (RIS) so writes xterm has queued but not parsed yet
        // land before it, not after a synchronous term.reset().
        buffer.write("\x1bc");
        showNotice(null);
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
          writeBlock(id);
          written.add(id);
          lastWritten = id;
        }
        updateEarlier(ids);
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
        // A screen snapshot or older output changes what is drawn: redraw.
        if (event.kind === "snapshot" || event.kind === "earlier") {
          return render();
        }
        if (!written.has(event.commandId)) {
          // A new command in view: its header, then everything cached so far.
          writeBlock(event.commandId, event.kind === "started");
          written.add(event.commandId);
          lastWritten = event.commandId;
        } else if (event.kind !== "started") {
          const command = stores.commands.peek().get(event.commandId);
          const finished = command !== undefined &&
            FINAL_STATUSES.has(command.status);
          // Live output appends; replayed output of an earlier or finished
          // command (whose footer is already out) redraws the view.
          // (tagged: skipped when xterm falls behind).
          if (lastWritten === event.commandId && !finished) {
            buffer.write(event.text, event.commandId);
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
  // The command whose output is shown: its recording is offered.
  const recordedId = commandId ?? agent?.currentCommandId ?? null;
  const role = stores.user.value?.role ?? null;
  // Never touch the client while rendering on the server.
  const connected = hydrated &&
    getClient().connection.value.state === "connected";
  // Control is offered while the agent runs something to type into (a
  // session or a command), or while someone holds it.
  const holder = agentId ? stores.controllers.value.get(agentId) : undefined;
  const control = hydrated && agentId && !commandId &&
      (holder || agent?.currentCommandId)
    ? controlView(holder, stores.connectionId.value, role)
    : null;
  const lastSent = stores.errors.value.findLast((e) =>
    e.replyTo !== undefined && e.at >= errorsAfter &&
    sentIds.current.includes(e.replyTo)
  );
  const lastError = lastSent && {
    ...lastSent,
    restart: restartIds.current.includes(lastSent.replyTo!),
  };
  const restart = hydrated && !commandId
    ? restartView(agent, role, stores.commands.value.values())
    : null;
  const needsInput = agent?.activity === "needs-input" && !commandId;
  const mayAnswer = control !== null && control.action !== "release" &&
    control.action !== null;
  const answer = (data: string) => {
    if (!agentId || !control) return;
    if (control.state === "mine") return sendInput(agentId, data);
    if (!mayAnswer) return;
    pending.current = { agentId, data };
    requestControl(agentId, true);
  };
  return (
    <section class="panel terminal-panel" aria-label="Terminal">
      <div class="panel-title terminal-title">
        <span title={commandId ? `Command ${commandId}` : undefined}>
          {commandId
            ? titleOf(
              hydrated ? stores.commands.value.get(commandId) : undefined,
            )
            : agent
            ? `${agent.name} — live output`
            : "Terminal"}
        </span>
        <span class="terminal-actions">
          {commandId && (
            <button
              type="button"
              class="link"
              onClick={() => (stores.selectedCommandId.value = null)}
            >
              back to live output
            </button>
          )}
          {recordedId && (
            <RecordingLinks
              commandId={recordedId}
              label={commandId
                ? "command's output"
                : "running command's output so far"}
            />
          )}
          {earlier && (
            <button
              type="button"
              class="link"
              data-testid="load-earlier"
              disabled={!connected || earlier.loading}
              onClick={() => {
                setEarlier({ ...earlier, loading: true });
                getClient().send("terminal:earlier", {
                  commandId: earlier.commandId,
                  beforeSeq: earlier.beforeSeq,
                });
              }}
            >
              {earlier.loading
                ? "Loading earlier output…"
                : "Load earlier output"}
            </button>
          )}
        </span>
        {state === "failed" && (
          <span class="text-error">terminal failed to load</span>
        )}
      </div>
      {control && agentId && (
        <div
          class={`control-line control-${control.state}`}
          data-testid="control-line"
          data-state={control.state}
        >
          <span class="control-text" data-testid="control-text">
            {control.text}
          </span>
          {control.state === "mine" && (
            <span class="control-hint">
              Esc then Tab (or Ctrl+]) leaves the terminal
            </span>
          )}
          {control.action && (
            <button
              type="button"
              class={`button small${
                control.action === "release" ? "" : " primary"
              }`}
              ref={controlButton}
              data-testid="control-button"
              disabled={!connected}
              onClick={() => {
                pending.current = null;
                requestControl(agentId, control.action !== "release");
              }}
            >
              {control.action === "take"
                ? "Take control"
                : control.action === "takeover"
                ? "Take over"
                : "Release"}
            </button>
          )}
          {lastError && (
            <span class="text-error control-error" data-testid="control-error">
              {lastError.restart
                ? restartErrorText(lastError.code, lastError.message)
                : controlErrorText(lastError.code, lastError.message)}
            </span>
          )}
        </div>
      )}
      {restart && agentId && (
        <div class="session-ended" data-testid="session-ended" role="status">
          <span data-testid="session-ended-text">{restart.text}</span>
          {restart.allowed && (
            <button
              type="button"
              class="button small primary"
              data-testid="restart-session"
              disabled={!connected}
              onClick={() => {
                setErrorsAfter(Date.now());
                const id = getClient().send("session:restart", { agentId });
                track(id);
                restartIds.current.push(id);
                if (restartIds.current.length > MAX_TRACKED_IDS) {
                  restartIds.current.shift();
                }
              }}
            >
              Restart session
            </button>
          )}
        </div>
      )}
      {needsInput && agent && (
        <div class="attention" data-testid="attention" role="status">
          <p class="attention-text">
            <span class="activity-icon" aria-hidden="true">?</span>
            <span data-testid="attention-text">
              {agent.attention ?? `${agent.name} needs input`}
            </span>
          </p>
          {(control?.state === "mine" || mayAnswer) && (
            <div class="quick-answers" data-testid="quick-answers">
              {quickKeys(agent).map((k) => (
                <button
                  type="button"
                  class="button small"
                  key={k.label}
                  disabled={!connected}
                  onClick={() => answer(k.data)}
                >
                  {k.label}
                </button>
              ))}
            </div>
          )}
        </div>
      )}
      {notice && (
        <div
          class="terminal-notice"
          role="status"
          data-testid={notice.skippedBytes > 0
            ? "skipped-notice"
            : "truncated-notice"}
          data-command-id={notice.commandId}
          data-skipped-bytes={notice.skippedBytes}
        >
          <span>
            {notice.skippedBytes > 0
              ? `… ${
                formatBytes(notice.skippedBytes)
              } not shown: this tab skipped ahead to keep up with the output.`
              : "Earlier output is no longer shown in this tab."}
          </span>
          <a
            href={fullLogUrl(notice.commandId)}
            target="_blank"
            rel="noopener"
            data-testid="full-log"
          >
            full log
          </a>
        </div>
      )}
      <div
        class="terminal"
        ref={container}
        data-testid="terminal"
        data-state={state}
      />
    </section>
  );
}

/** The title of one command's view: its text (the id is on hover). */
function titleOf(command: CommandInfo | undefined): string {
  if (!command) return "Command";
  const text = shortCommand(command.command, 60);
  return command.kind === "prompt"
    ? `Prompt "${text}" — its turn in the session`
    : `Command "${text}"`;
}
