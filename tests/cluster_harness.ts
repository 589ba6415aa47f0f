/**
 * A real cluster for tests: one redis-server (tests/redis_server.ts), N real
 * server processes (tests/faults/server_process.ts) pointed at it with the
 * same secret, and a round-robin TCP proxy in front of them, like a load
 * balancer without sticky sessions: each new connection goes to the next
 * node.
 *
 * @module
 */
import { RedisServer } from "./redis_server.ts";
import { ServerProcess } from "./faults/server_process.ts";
import { TcpProxy } from "./faults/tcp_proxy.ts";
import {
  createDashboard,
  type DashboardOptions,
  type RealDashboard,
} from "./faults/dashboard.ts";
import type { Role } from "../lib/protocol.ts";
import {
  AgentProcess,
  RawAgent,
  TestClient,
  type TestServer,
  waitAgentStatus,
} from "./helpers.ts";

/** Options of {@link TestCluster.start}. */
export interface TestClusterOptions {
  /** Number of server processes (default 3). */
  nodes?: number;
  /** Extra environment of every node. */
  env?: Record<string, string>;
}

/** Redis, the nodes and the proxy; `await using` stops them all. */
export class TestCluster {
  readonly redis: RedisServer;
  readonly nodes: ServerProcess[];
  readonly proxy: TcpProxy;

  private constructor(
    redis: RedisServer,
    nodes: ServerProcess[],
    proxy: TcpProxy,
  ) {
    this.redis = redis;
    this.nodes = nodes;
    this.proxy = proxy;
  }

  /** Start Redis, then the nodes one after another, then the proxy. */
  static async start(options: TestClusterOptions = {}): Promise<TestCluster> {
    const redis = await RedisServer.start();
    const nodes: ServerProcess[] = [];
    try {
      for (let i = 0; i < (options.nodes ?? 3); i++) {
        nodes.push(
          await ServerProcess.start({
            env: {
              FLIGHTDECK_REDIS_URL: redis.url,
              FLIGHTDECK_PRESENCE_TTL_MS: "3000",
              ...options.env,
            },
          }),
        );
      }
    } catch (error) {
      for (const node of nodes) await node.dispose();
      await redis.close();
      throw error;
    }
    return new TestCluster(
      redis,
      nodes,
      new TcpProxy(nodes.map((n) => n.port)),
    );
  }

  /** `ws://` of the proxy. */
  get wsUrl(): string {
    return this.proxy.wsUrl;
  }

  /** `http://` of the proxy. */
  get url(): string {
    return this.proxy.url;
  }

  /** The node listening on `port`. */
  nodeOn(port: number): ServerProcess {
    const node = this.nodes.find((n) => n.port === port);
    if (!node) throw new Error(`No node on port ${port}`);
    return node;
  }

  /** A token signed with the nodes' shared secret. */
  token(role: Role, agentId?: string): Promise<string> {
    return this.nodes[0].token(role, agentId);
  }

  /** Stop the proxy, every node and Redis. */
  async close(): Promise<void> {
    await this.proxy.close();
    for (const node of this.nodes) await node.dispose();
    await this.redis.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Start a real agent `name` dialing the cluster's proxy. */
export async function clusterAgent(
  cluster: TestCluster,
  name: string,
): Promise<AgentProcess> {
  return new AgentProcess([
    "--server",
    cluster.url,
    "--token",
    await cluster.token("agent", name),
    "--name",
    name,
  ]);
}

/**
 * Connect a raw agent `agentId` to `agentNode`, then an operator dashboard
 * to `dashNode` (the same node or another); wait until the dashboard sees
 * the agent online, run `fn`, then close the dashboard and the agent, also
 * when `fn` throws.
 */
export async function withRawAgent(
  agentNode: TestServer,
  agentId: string,
  dashNode: TestServer,
  fn: (agent: RawAgent, dash: TestClient) => Promise<void>,
): Promise<void> {
  const agent = await RawAgent.connect(agentNode, agentId);
  const dash = await TestClient.dashboard(dashNode, "operator");
  try {
    await waitAgentStatus(dash, agentId, "online");
    await fn(agent, dash);
  } finally {
    await dash.close();
    await agent.close();
  }
}

/** What {@link withClusterAgent} hands its callback. */
export interface ClusterAgentFixture {
  /** The real agent, connected through the proxy (to the first node). */
  agent: AgentProcess;
  /** Dashboards made with {@link connectDashboards}; stopped at the end. */
  dashboards: RealDashboard[];
  /** An empty temporary file the commands may append to. */
  marks: string;
}

/**
 * Make a temporary `marks` file and start a real agent `name` dialing the
 * cluster; wait (20 s at most) until it says it connected, run `fn`; then
 * stop the dashboards, SIGKILL the agent and remove `marks`, also when `fn`
 * throws.
 */
export async function withClusterAgent(
  cluster: TestCluster,
  name: string,
  fn: (fixture: ClusterAgentFixture) => Promise<void>,
): Promise<void> {
  const marks = await Deno.makeTempFile({ prefix: "flightdeck-cluster-" });
  const agent = await clusterAgent(cluster, name);
  const dashboards: RealDashboard[] = [];
  try {
    await agent.waitStderr(/connected to/, 20_000);
    await fn({ agent, dashboards, marks });
  } finally {
    for (const d of dashboards) d.stop();
    await agent.kill("SIGKILL");
    await Deno.remove(marks).catch(() => {});
  }
}

/**
 * Connect operator dashboards (real clients) named `names` through the
 * proxy, one after another, pushing each onto `into` as it is up.
 */
export async function connectDashboards(
  cluster: TestCluster,
  into: RealDashboard[],
  names: string[],
  options: Partial<DashboardOptions> = {},
): Promise<void> {
  const token = await cluster.token("operator");
  for (const name of names) {
    into.push(
      await createDashboard({
        wsUrl: cluster.wsUrl,
        token,
        name,
        ...options,
      }),
    );
  }
}
