import assert from "node:assert/strict";
import { ENV_VARS, loadConfig } from "./config.ts";

const noEnv = () => undefined;
const envOf = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("loadConfig() returns the defaults without environment", () => {
  assert.deepEqual(loadConfig({}, noEnv), {
    hostname: "127.0.0.1",
    port: 8000,
    presenceTtlMs: 3000,
    dataDir: "./data",
    outputStore: "file",
    allowedOrigins: [],
    maxFrameBytes: 1024 * 1024,
    maxQueuePerAgent: 100,
    heartbeatIntervalMs: 1500,
    agentTimeoutMs: 4000,
    dashboardTimeoutMs: 90_000,
    interruptGraceMs: 2000,
    lostAfterMs: 120_000,
    commandTimeoutMs: 0,
    maxPeerBufferedBytes: 8 * 1024 * 1024,
    maxTotalBufferedBytes: 64 * 1024 * 1024,
    maxConnectionsPerUser: 32,
    maxConnectionsPerAddress: 64,
    maxUnauthenticatedPerAddress: 2,
    maxUnauthenticated: 8,
    maxUnauthenticatedFrameBytes: 16 * 1024,
    logForwardMaxBytes: 4096,
    logForwardPerMinute: 60,
    agentOutputWindowBytes: 4 * 1024 * 1024,
    testAppendDelayMs: 0,
    messageRatePerSecond: 200,
    terminalInputPerSecond: 100,
    terminalInputBytesPerSecond: 262144,
    commandRatePerMinute: 600,
    sessionTtlSeconds: 7 * 24 * 3600,
    snapshotMinBytes: 256 * 1024,
    accessTtlSeconds: 3600,
    maxSessionsPerToken: 20,
    maxTokenTtlSeconds: 90 * 24 * 3600,
    loginFailureLimit: 10,
    loginFailureWindowMs: 10 * 60_000,
    retentionMs: 7 * 86400_000,
    retentionBytes: 1024 ** 3,
    auditRetentionMs: 90 * 86400_000,
    auditRefusalsPerMinute: 60,
    maxCommandOutputBytes: 256 * 1024 * 1024,
    retentionIntervalMs: 60_000,
    searchIndexIntervalMs: 5000,
    revocationCheckMs: 2000,
    logLevel: "info",
    connectionGuard: true,
    headTimeoutMs: 10_000,
    maxHeadBytes: 32 * 1024,
    idleTimeoutMs: 150_000,
    keepAliveTimeoutMs: 5_000,
    requestTimeoutMs: 30_000,
    bodyTimeoutMs: 10_000,
    maxTcpConnections: 2048,
    maxTcpConnectionsPerAddress: 256,
    trustProxy: false,
    printLoginUrl: true,
  });
});

Deno.test("loadConfig() parses environment variables", () => {
  const config = loadConfig(
    {},
    envOf({
      HOSTNAME: "0.0.0.0",
      PORT: "9090",
      FLIGHTDECK_DATA: "/var/lib/flightdeck",
      FLIGHTDECK_SECRET: "k".repeat(40),
      FLIGHTDECK_KV: ":memory:",
      FLIGHTDECK_ALLOWED_ORIGINS:
        "https://a.example, https://b.example:8443 ,,",
      FLIGHTDECK_MAX_QUEUE: "5",
      FLIGHTDECK_AGENT_TIMEOUT_MS: "8000",
      FLIGHTDECK_INTERRUPT_GRACE_MS: "0",
      FLIGHTDECK_MAX_PEER_BUFFER: "65536",
      FLIGHTDECK_MAX_COMMAND_OUTPUT: "1048576",
    }),
  );
  assert.equal(config.hostname, "0.0.0.0");
  assert.equal(config.port, 9090);
  assert.equal(config.dataDir, "/var/lib/flightdeck");
  assert.equal(config.secret, "k".repeat(40));
  assert.equal(config.kvPath, ":memory:");
  assert.deepEqual(config.allowedOrigins, [
    "https://a.example",
    "https://b.example:8443",
  ]);
  assert.equal(config.maxQueuePerAgent, 5);
  assert.equal(config.agentTimeoutMs, 8000);
  assert.equal(config.interruptGraceMs, 0);
  assert.equal(config.maxPeerBufferedBytes, 65536);
  assert.equal(config.maxCommandOutputBytes, 1048576);
});

Deno.test("loadConfig() ignores empty variables", () => {
  const config = loadConfig({}, envOf({ PORT: "", FLIGHTDECK_DATA: "" }));
  assert.equal(config.port, 8000);
  assert.equal(config.dataDir, "./data");
});

Deno.test("loadConfig() lets overrides win over the environment", () => {
  const config = loadConfig(
    { port: 0, dataDir: ":memory:" },
    envOf({ PORT: "9090", FLIGHTDECK_DATA: "/tmp/x" }),
  );
  assert.equal(config.port, 0);
  assert.equal(config.dataDir, ":memory:");
});

Deno.test("loadConfig() throws TypeError naming PORT for an invalid port", () => {
  for (const port of ["http", "70000", "-1", "80.5"]) {
    assert.throws(
      () => loadConfig({}, envOf({ PORT: port })),
      (error: unknown) => {
        assert.ok(error instanceof TypeError);
        assert.match(error.message, /^Invalid configuration "PORT": /);
        return true;
      },
      port,
    );
  }
});

Deno.test("loadConfig() names the variable of an invalid origin", () => {
  assert.throws(
    () =>
      loadConfig(
        {},
        envOf({ FLIGHTDECK_ALLOWED_ORIGINS: "https://ok.example,not a url" }),
      ),
    (error: unknown) =>
      error instanceof TypeError &&
      error.message.startsWith(
        'Invalid configuration "FLIGHTDECK_ALLOWED_ORIGINS": ',
      ),
  );
});

Deno.test("loadConfig() names the option of an invalid override", () => {
  assert.throws(
    () => loadConfig({ heartbeatIntervalMs: 10 }, noEnv),
    (error: unknown) =>
      error instanceof TypeError &&
      error.message.startsWith('Invalid configuration "heartbeatIntervalMs": '),
  );
  assert.throws(
    () => loadConfig({}, envOf({ FLIGHTDECK_SECRET: "short" })),
    (error: unknown) =>
      error instanceof TypeError &&
      error.message.startsWith('Invalid configuration "FLIGHTDECK_SECRET": '),
  );
});

Deno.test("ENV_VARS lists every variable loadConfig() reads", () => {
  const read: string[] = [];
  loadConfig({}, (name) => {
    read.push(name);
    return undefined;
  });
  assert.deepEqual([...read].sort(), [...ENV_VARS].sort());
  assert.ok(ENV_VARS.includes("PORT"));
  assert.ok(ENV_VARS.includes("FLIGHTDECK_DATA"));
  assert.ok(ENV_VARS.includes("FLIGHTDECK_ALLOWED_ORIGINS"));
});

Deno.test("loadConfig() reads the agent output window and the test-only append delay", () => {
  const config = loadConfig(
    {},
    envOf({
      FLIGHTDECK_AGENT_WINDOW_BYTES: "1048576",
      FLIGHTDECK_TEST_APPEND_DELAY_MS: "5",
    }),
  );
  assert.equal(config.agentOutputWindowBytes, 1024 * 1024);
  assert.equal(config.testAppendDelayMs, 5);
  assert.throws(
    () => loadConfig({}, envOf({ FLIGHTDECK_AGENT_WINDOW_BYTES: "1000" })),
    (error) =>
      error instanceof TypeError &&
      error.message.startsWith(
        'Invalid configuration "FLIGHTDECK_AGENT_WINDOW_BYTES"',
      ),
  );
});

Deno.test("loadConfig() parses the connection guard and proxy variables", () => {
  const config = loadConfig(
    {},
    envOf({
      FLIGHTDECK_CONN_GUARD: "off",
      FLIGHTDECK_HEAD_TIMEOUT_MS: "2500",
      FLIGHTDECK_MAX_HEAD_BYTES: "4096",
      FLIGHTDECK_IDLE_TIMEOUT_MS: "0",
      FLIGHTDECK_KEEP_ALIVE_TIMEOUT_MS: "7000",
      FLIGHTDECK_REQUEST_TIMEOUT_MS: "0",
      FLIGHTDECK_BODY_TIMEOUT_MS: "2000",
      FLIGHTDECK_MAX_TCP_CONNECTIONS: "300",
      FLIGHTDECK_MAX_TCP_PER_ADDRESS: "20",
      FLIGHTDECK_TRUST_PROXY: "1",
    }),
  );
  assert.equal(config.connectionGuard, false);
  assert.equal(config.headTimeoutMs, 2500);
  assert.equal(config.maxHeadBytes, 4096);
  assert.equal(config.idleTimeoutMs, 0);
  assert.equal(config.keepAliveTimeoutMs, 7000);
  assert.equal(config.requestTimeoutMs, 0);
  assert.equal(config.bodyTimeoutMs, 2000);
  assert.equal(config.maxTcpConnections, 300);
  assert.equal(config.maxTcpConnectionsPerAddress, 20);
  assert.equal(config.trustProxy, true);
  for (const [value, expected] of [["true", true], ["no", false]] as const) {
    assert.equal(
      loadConfig({}, envOf({ FLIGHTDECK_TRUST_PROXY: value })).trustProxy,
      expected,
    );
  }
  assert.throws(
    () => loadConfig({}, envOf({ FLIGHTDECK_CONN_GUARD: "maybe" })),
    /Invalid configuration "FLIGHTDECK_CONN_GUARD"/,
  );
  assert.throws(
    () => loadConfig({}, envOf({ FLIGHTDECK_MAX_TCP_CONNECTIONS: "0" })),
    /Invalid configuration "FLIGHTDECK_MAX_TCP_CONNECTIONS"/,
  );
});

Deno.test("loadConfig() reads the terminal input rates; a byte rate under one largest input is refused", () => {
  const config = loadConfig(
    {},
    envOf({
      FLIGHTDECK_INPUT_RATE: "20",
      FLIGHTDECK_INPUT_BYTES_RATE: "1048576",
    }),
  );
  assert.equal(config.terminalInputPerSecond, 20);
  assert.equal(config.terminalInputBytesPerSecond, 1048576);
  assert.throws(
    () => loadConfig({}, envOf({ FLIGHTDECK_INPUT_BYTES_RATE: "65535" })),
    (error: Error) =>
      error instanceof TypeError &&
      error.message.startsWith(
        'Invalid configuration "FLIGHTDECK_INPUT_BYTES_RATE": ',
      ),
  );
  assert.throws(
    () => loadConfig({}, envOf({ FLIGHTDECK_INPUT_RATE: "0" })),
    /FLIGHTDECK_INPUT_RATE/,
  );
});

Deno.test("loadConfig() reads the audit settings and the admin's name", () => {
  const env: Record<string, string> = {
    FLIGHTDECK_AUDIT_RETENTION_MS: "3600000",
    FLIGHTDECK_AUDIT_REFUSALS_PER_MINUTE: "5",
    FLIGHTDECK_ADMIN_USER: " alice ",
  };
  const config = loadConfig({}, (name) => env[name]);
  assert.equal(config.auditRetentionMs, 3_600_000);
  assert.equal(config.auditRefusalsPerMinute, 5);
  assert.equal(config.adminUser, "alice");
  assert.throws(
    () =>
      loadConfig({}, (name) => ({ FLIGHTDECK_AUDIT_RETENTION_MS: "10" })[name]),
    /Invalid configuration "FLIGHTDECK_AUDIT_RETENTION_MS"/,
  );
});

Deno.test("loadConfig() reads FLIGHTDECK_REDIS_URL and refuses a URL that is not redis:// or rediss://", () => {
  assert.equal(loadConfig({}, () => undefined).redisUrl, undefined);
  const env = (value: string) => (name: string) =>
    name === "FLIGHTDECK_REDIS_URL" ? value : undefined;
  assert.equal(
    loadConfig({}, env("redis://:pw@10.0.0.5:6380/2")).redisUrl,
    "redis://:pw@10.0.0.5:6380/2",
  );
  assert.equal(
    loadConfig({}, env("rediss://cache.example:6379")).redisUrl,
    "rediss://cache.example:6379",
  );
  for (const bad of ["http://x:6379", "localhost:6379", "redis://a b"]) {
    assert.throws(
      () => loadConfig({}, env(bad)),
      (e: unknown) =>
        e instanceof TypeError && e.message.includes("FLIGHTDECK_REDIS_URL"),
    );
  }
});

Deno.test("FLIGHTDECK_OUTPUT_STORE picks where new output goes (file or kv); another value is refused with the variable named", () => {
  assert.equal(loadConfig({}, noEnv).outputStore, "file");
  assert.equal(
    loadConfig({}, envOf({ FLIGHTDECK_OUTPUT_STORE: "kv" })).outputStore,
    "kv",
  );
  assert.throws(
    () => loadConfig({}, envOf({ FLIGHTDECK_OUTPUT_STORE: "disk" })),
    /Invalid configuration "FLIGHTDECK_OUTPUT_STORE"/,
  );
});
