/**
 * The part of the request state (`ctx.state`, set by the server's Fresh
 * plugin and middleware) that pages and components read, typed structurally
 * here so that components/ never imports lib/server. The page routes
 * (routes/index.tsx, routes/agents/[id].tsx) use it too; the other routes
 * (API, sockets, login) import `AppState` from lib/server/app.ts.
 * @module
 */
import type { AgentInfo, CommandInfo, Priority } from "../lib/protocol.ts";

/** The signed-in user. */
export interface PageUser {
  id: string;
  role: "viewer" | "operator" | "admin";
}

/** One queue entry as `queueOf` returns it. */
export interface PageQueueEntry {
  commandId: string;
  priority: Priority;
  position: number;
}

/** The part of the server's app object pages use. */
export interface PageApp {
  registry: {
    list(): AgentInfo[];
    get(id: string): AgentInfo | undefined;
  };
  commands: {
    listRecent(
      options: { agentId?: string; limit: number },
    ): Promise<CommandInfo[]>;
    queueOf(agentId: string): PageQueueEntry[];
    /** Stored output before `beforeSeq`, about `maxBytes` of it (see CommandService). */
    earlierOutput(
      commandId: string,
      beforeSeq: number,
      maxBytes: number,
    ): Promise<{ fromSeq: number; toSeq: number; data: string } | null>;
    /** Output chunks after `afterSeq` through `upTo`, with their stream. */
    outputChunks(
      commandId: string,
      afterSeq: number,
      upTo: number,
    ): AsyncIterable<{ stream: "stdout" | "stderr"; data: string }>;
  };
}

/** `ctx.state` of page requests. */
export interface PageState {
  app: PageApp;
  user: PageUser | null;
}
