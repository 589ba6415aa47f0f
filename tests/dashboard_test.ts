/**
 * Dashboard socket: handshake, agent list and status, heartbeat, roles,
 * authentication failures and upgrade refusals (docs/protocol.md, "Transport",
 * "Authentication", "Server → dashboard").
 */
import assert from "node:assert/strict";
import { readGitInfo } from "../lib/agent/git_info.ts";
import {
  AgentProcess,
  anonymousDashboard,
  broadcastBarrier,
  rawOf,
  requestCommand,
  ROOT,
  startTestServer,
  TestClient,
  type TestServer,
  waitAgentStatus,
  waitRaw,
} from "./helpers.ts";

const AGENT_INFO_KEYS = [
  "capabilities",
  "connectedAt",
  "currentCommandId",
  "cwd",
  "hostname",
  "id",
  "lastSeenAt",
  "name",
  "since",
  "status",
  "type",
];

/** Send a raw HTTP/1.1 request over TCP and return the status and head. */
async function rawHttp(
  server: TestServer,
  headers: Record<string, string>,
): Promise<{ status: number; head: string; body: string }> {
  const { hostname, port } = new URL(server.url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  try {
    const lines = [
      "GET /ws/dashboard HTTP/1.1",
      `Host: ${hostname}:${port}`,
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      "Connection: close",
      "",
      "",
    ];
    // An upgrade keeps the socket open: read until the head is complete.
    await conn.write(new TextEncoder().encode(lines.join("\r\n")));
    let text = "";
    const buffer = new Uint8Array(4096);
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0) {
        const head = text.slice(0, end);
        const length = /content-length: *(\d+)/i.exec(head);
        if (!length || text.length >= end + 4 + Number(length[1])) break;
      }
    }
    const [head, body = ""] = text.split("\r\n\r\n");
    return { status: Number(head.split(" ")[1]), head, body };
  } finally {
    conn.close();
  }
}

const UPGRADE = {
  Upgrade: "websocket",
  Connection: "Upgrade",
  "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
  "Sec-WebSocket-Version": "13",
};

Deno.test("dashboard: connection:ack has exactly the promised fields, then agent:list", async () => {
  await using server = await startTestServer();
  const token = await server.token("operator");
  const client = new TestClient(`${server.wsUrl}/ws/dashboard`, {
    authorization: `Bearer ${token}`,
  });
  try {
    await client.opened();
    await client.until(() => client.raw.length >= 2);
    const [ack, list] = client.raw as {
      version: string;
      type: string;
      timestamp: number;
      payload: Record<string, unknown>;
    }[];
    assert.equal(ack.type, "connection:ack");
    assert.equal(ack.version, "1.0.0");
    assert.equal(typeof ack.timestamp, "number");
    assert.deepEqual(Object.keys(ack.payload).sort(), [
      "connectionId",
      "expiresAt",
      "heartbeatIntervalMs",
      "serverVersion",
      "user",
    ]);
    assert.equal(typeof ack.payload.connectionId, "string");
    assert.ok((ack.payload.connectionId as string).length > 0);
    assert.equal(ack.payload.serverVersion, "1.0.0");
    assert.equal(ack.payload.heartbeatIntervalMs, 1500);
    assert.deepEqual(ack.payload.user, { id: "operator", role: "operator" });
    const claims = JSON.parse(atob(token.split(".")[1]));
    assert.equal(ack.payload.expiresAt, claims.exp * 1000);
    assert.equal(list.type, "agent:list");
    assert.deepEqual(list.payload, { agents: [] });
  } finally {
    await client.close();
  }
});

Deno.test("dashboard: agent:list lists a connected agent with every AgentInfo field", async () => {
  await using server = await startTestServer();
  const first = await TestClient.dashboard(server);
  const agent = await AgentProcess.start(server, "list-1");
  let second: TestClient | undefined;
  try {
    await waitAgentStatus(first, "list-1", "online");
    const before = Date.now();
    second = await TestClient.dashboard(server, "viewer");
    assert.equal(second.raw.length >= 2, true);
    const list = (second.raw as { type: string }[])[1] as {
      type: string;
      payload: { agents: Record<string, unknown>[] };
    };
    assert.equal(list.type, "agent:list");
    assert.equal(list.payload.agents.length, 1);
    const info = list.payload.agents[0];
    // The agent runs in the project folder: a git checkout, or not.
    const git = await readGitInfo(ROOT);
    assert.deepEqual(
      Object.keys(info).sort(),
      [...AGENT_INFO_KEYS, ...(git ? ["git"] : [])].sort(),
    );
    assert.deepEqual(info.git, git ?? undefined);
    assert.equal(info.cwd, ROOT.replace(/\/$/, ""));
    assert.equal(typeof info.since, "number");
    assert.equal(info.id, "list-1");
    assert.equal(info.name, "list-1");
    assert.equal(info.type, "shell");
    assert.equal(info.status, "online");
    assert.ok(Array.isArray(info.capabilities));
    assert.ok((info.capabilities as string[]).includes("shell"));
    assert.equal(info.hostname, Deno.hostname());
    assert.equal(typeof info.connectedAt, "number");
    assert.equal(typeof info.lastSeenAt, "number");
    assert.ok((info.connectedAt as number) <= before);
    assert.ok((info.lastSeenAt as number) >= (info.connectedAt as number));
    assert.equal(info.currentCommandId, null);
  } finally {
    await agent.kill();
    await first.close();
    await second?.close();
  }
});

Deno.test("dashboard: agent:status reaches the dashboard on connect and disconnect", async () => {
  await using server = await startTestServer();
  const dash = await TestClient.dashboard(server);
  const agent = await AgentProcess.start(server, "status-1");
  try {
    await waitAgentStatus(dash, "status-1", "online");
    await agent.kill("SIGTERM");
    await waitAgentStatus(dash, "status-1", "offline", 5000);
    const statuses = dash.of("agent:status").filter((s) =>
      s.agent.id === "status-1"
    );
    assert.deepEqual(statuses.map((s) => s.agent.status), [
      "online",
      "offline",
    ]);
    const git = await readGitInfo(ROOT);
    for (const s of statuses) {
      assert.deepEqual(
        Object.keys(s.agent).sort(),
        [...AGENT_INFO_KEYS, ...(git ? ["git"] : [])].sort(),
      );
    }
    assert.ok(statuses[1].agent.lastSeenAt >= statuses[0].agent.lastSeenAt);
  } finally {
    await agent.kill();
    await dash.close();
  }
});

Deno.test("dashboard: heartbeat is echoed with the same sequence", async () => {
  await using server = await startTestServer();
  const dash = await TestClient.dashboard(server, "viewer");
  try {
    for (const sequence of [0, 7, 123456]) {
      const from = dash.messages.length;
      dash.send("heartbeat", { sequence });
      const echo = await dash.waitFor((m) => m.type === "heartbeat", { from });
      assert.deepEqual(echo.payload, { sequence });
    }
  } finally {
    await dash.close();
  }
});

Deno.test("dashboard: viewer gets FORBIDDEN for command:request and nothing is queued", async () => {
  await using server = await startTestServer();
  const watcher = await TestClient.dashboard(server, "operator");
  const agent = await AgentProcess.start(server, "view-1");
  const viewer = await TestClient.dashboard(server, "viewer");
  try {
    await waitAgentStatus(watcher, "view-1", "online");
    const reply = await requestCommand(viewer, {
      agentId: "view-1",
      command: "echo hi",
    }, "v-1");
    assert.equal(reply.type, "error");
    assert.equal(reply.payload.replyTo, "v-1");
    if (reply.type !== "error") return;
    assert.equal(reply.payload.code, "FORBIDDEN");
    assert.equal(reply.payload.recoverable, true);
    for (const client of [watcher, viewer]) {
      await broadcastBarrier(server, client);
      assert.deepEqual(client.of("command:status"), []);
      assert.deepEqual(client.of("command:queue"), []);
    }
    assert.deepEqual(
      await server.services.commands.listRecent({ limit: 10 }),
      [],
    );
    // Still connected and usable.
    viewer.send("heartbeat", { sequence: 5 });
    await viewer.waitFor((m) => m.type === "heartbeat");
  } finally {
    await agent.kill();
    await watcher.close();
    await viewer.close();
  }
});

Deno.test("dashboard: no token, first message not dashboard:connect → AUTH_FAILED, 4401", async () => {
  await using server = await startTestServer();
  const client = await anonymousDashboard(server);
  try {
    client.send("heartbeat", { sequence: 1 });
    const closed = await client.waitClosed(3000);
    assert.equal(closed.code, 4401);
    const errors = rawOf(client, "error");
    assert.equal(client.raw.length, 1, JSON.stringify(client.raw));
    assert.equal(errors[0].payload.code, "AUTH_FAILED");
    assert.equal(errors[0].payload.recoverable, false);
    assert.equal(rawOf(client, "connection:ack").length, 0);
    assert.equal(rawOf(client, "heartbeat").length, 0);
  } finally {
    await client.close();
  }
});

Deno.test("dashboard: no token and silence → AUTH_FAILED and 4401 after 5 s", async () => {
  await using server = await startTestServer();
  const started = Date.now();
  const client = await anonymousDashboard(server);
  try {
    const closed = await client.waitClosed(8000);
    const elapsed = Date.now() - started;
    assert.equal(closed.code, 4401);
    assert.ok(elapsed >= 4500 && elapsed < 7000, `closed after ${elapsed} ms`);
    assert.equal(client.raw.length, 1);
    assert.equal(rawOf(client, "error")[0].payload.code, "AUTH_FAILED");
  } finally {
    await client.close();
  }
});

Deno.test("dashboard: a bad Bearer token → AUTH_FAILED, 4401", async () => {
  await using server = await startTestServer();
  for (
    const token of [
      "not-a-jwt",
      // Signed with another secret.
      (await server.token("operator")).slice(0, -4) + "AAAA",
    ]
  ) {
    const client = await anonymousDashboard(server, {
      authorization: `Bearer ${token}`,
    });
    try {
      const closed = await client.waitClosed(3000);
      assert.equal(closed.code, 4401);
      assert.equal(client.raw.length, 1, JSON.stringify(client.raw));
      const error = rawOf(client, "error")[0];
      assert.equal(error.payload.code, "AUTH_FAILED");
      assert.equal(error.payload.recoverable, false);
    } finally {
      await client.close();
    }
  }
});

Deno.test("dashboard: an agent token cannot open a dashboard", async () => {
  await using server = await startTestServer();
  const client = await anonymousDashboard(server, {
    authorization: `Bearer ${await server.token("agent", "a-1")}`,
  });
  try {
    const closed = await client.waitClosed(3000);
    assert.equal(closed.code, 4401);
    assert.equal(rawOf(client, "error")[0].payload.code, "AUTH_FAILED");
    assert.equal(rawOf(client, "connection:ack").length, 0);
  } finally {
    await client.close();
  }
});

Deno.test("dashboard: plain GET without upgrade → 400 with a text body", async () => {
  await using server = await startTestServer();
  for (const path of ["/ws/dashboard", "/ws/agent"]) {
    const response = await fetch(`${server.url}${path}`);
    const body = await response.text();
    assert.equal(response.status, 400);
    assert.match(response.headers.get("content-type") ?? "", /^text\/plain/);
    assert.ok(body.trim().length > 0);
  }
});

Deno.test("dashboard: a cross-site Origin is refused with 403; the own origin is not", async () => {
  await using server = await startTestServer();
  const token = await server.token("operator");
  const evil = await rawHttp(server, {
    ...UPGRADE,
    Origin: "http://evil.example",
    Authorization: `Bearer ${token}`,
  });
  assert.equal(evil.status, 403, evil.head);
  const own = await rawHttp(server, {
    ...UPGRADE,
    Origin: server.url,
    Authorization: `Bearer ${token}`,
  });
  assert.equal(own.status, 101, own.head);
});

Deno.test("dashboard: a browser session cookie from a cross-site page cannot open a socket", async () => {
  await using server = await startTestServer();
  const cookie = `flightdeck_session=${await server.token("admin")}`;
  const hijack = await rawHttp(server, {
    ...UPGRADE,
    Origin: "http://evil.example",
    Cookie: cookie,
  });
  assert.equal(hijack.status, 403, hijack.head);
  const own = await rawHttp(server, {
    ...UPGRADE,
    Origin: server.url,
    Cookie: cookie,
  });
  assert.equal(own.status, 101, own.head);
  const allowed = await startTestServer({
    allowedOrigins: ["https://ops.example"],
  });
  try {
    const listed = await rawHttp(allowed, {
      ...UPGRADE,
      Origin: "https://ops.example",
      Cookie: cookie,
    });
    assert.equal(listed.status, 101, listed.head);
  } finally {
    await allowed.shutdown();
  }
});

Deno.test("dashboard: a token in dashboard:connect authenticates a socket opened without headers", async () => {
  await using server = await startTestServer();
  const client = await anonymousDashboard(server);
  try {
    client.send("dashboard:connect", {
      token: await server.token("admin"),
      clientInfo: { userAgent: "test", timezone: "UTC" },
    });
    await waitRaw(client, (m) => m.type === "agent:list", { timeoutMs: 3000 });
    const [ack, list] = client.raw as { type: string; payload: unknown }[];
    assert.equal(ack.type, "connection:ack");
    assert.deepEqual(
      (ack.payload as { user: unknown }).user,
      { id: "admin", role: "admin" },
    );
    assert.equal(list.type, "agent:list");
    // Authenticated: messages are handled.
    client.send("heartbeat", { sequence: 9 });
    await client.waitFor((m) => m.type === "heartbeat");
    assert.equal(client.closed, null);
  } finally {
    await client.close();
  }
});
