import assert from "node:assert/strict";
import type { AgentInfo } from "../protocol.ts";
import {
  AttentionTracker,
  noticeFor,
  NOTIFY_STORAGE_KEY,
  NotifyControl,
} from "./notifications.ts";

function agent(
  id: string,
  activity?: AgentInfo["activity"],
  extra: Partial<AgentInfo> = {},
): AgentInfo {
  return {
    id,
    name: id,
    type: "claude",
    status: "busy",
    capabilities: [],
    hostname: "host",
    connectedAt: 0,
    lastSeenAt: 0,
    currentCommandId: null,
    ...(activity ? { activity } : {}),
    ...extra,
  };
}

const away = { agentId: null, attended: false };

Deno.test("AttentionTracker notifies nothing for the first list (the page as loaded)", () => {
  const t = new AttentionTracker();
  assert.deepEqual(
    t.update([agent("a", "needs-input"), agent("b", "stalled")], away),
    [],
  );
  // Still the same: no change, no notice.
  assert.deepEqual(t.update([agent("a", "needs-input")], away), []);
});

Deno.test("AttentionTracker notifies once per transition into needs-input or stalled", () => {
  const t = new AttentionTracker();
  t.update([agent("a", "waiting")], away);
  const asking = agent("a", "needs-input", { attention: "Proceed?" });
  assert.deepEqual(t.update([asking], away), [{
    agentId: "a",
    title: "a needs you",
    body: "Proceed?",
    tag: "flightdeck-agent-a",
  }]);
  // Status repeats (other fields change, same activity): nothing more.
  assert.deepEqual(t.update([asking], away), []);
  assert.deepEqual(
    t.update([agent("a", "needs-input", { attention: "Sure?" })], away),
    [],
  );
  // Answered, then asked again: a new transition.
  assert.deepEqual(t.update([agent("a", "working")], away), []);
  assert.deepEqual(
    t.update([agent("a", "needs-input")], away).map((n) => n.title),
    ["a needs you"],
  );
  // needs-input -> stalled is a change into another calling state.
  assert.deepEqual(
    t.update([agent("a", "stalled")], away).map((n) => [n.title, n.body]),
    [["a is stalled", "No output for a while."]],
  );
  // Waiting and working never notify.
  assert.deepEqual(t.update([agent("a", "waiting")], away), []);
  assert.deepEqual(t.update([agent("a", "working")], away), []);
  assert.deepEqual(t.update([agent("a")], away), []);
});

Deno.test("AttentionTracker skips the agent the tab shows while attended, and does not notify it later", () => {
  const t = new AttentionTracker();
  t.update([agent("a", "working"), agent("b", "working")], away);
  const watching = { agentId: "a", attended: true };
  // The watched agent: nothing; another agent: notified.
  assert.deepEqual(
    t.update([agent("a", "needs-input"), agent("b", "needs-input")], watching)
      .map((n) => n.agentId),
    ["b"],
  );
  // Leaving the tab later does not fire the skipped transition.
  assert.deepEqual(
    t.update([agent("a", "needs-input"), agent("b", "needs-input")], away),
    [],
  );
  // The same agent in a hidden or unfocused tab is notified.
  t.update([agent("a", "working")], away);
  assert.deepEqual(
    t.update([agent("a", "needs-input")], { agentId: "a", attended: false })
      .map((n) => n.agentId),
    ["a"],
  );
});

Deno.test("AttentionTracker forgets offline and removed agents; a new agent that already asks is notified", () => {
  const t = new AttentionTracker();
  t.update([agent("a", "needs-input")], away);
  // Offline: activity no longer counts, and no notice for an offline agent.
  assert.deepEqual(
    t.update([agent("a", "needs-input", { status: "offline" })], away),
    [],
  );
  // Back online still asking: a new transition.
  assert.deepEqual(
    t.update([agent("a", "needs-input")], away).map((n) => n.agentId),
    ["a"],
  );
  // Removed from the list, then back.
  t.update([], away);
  assert.deepEqual(
    t.update([agent("a", "needs-input"), agent("c", "stalled")], away)
      .map((n) => n.agentId),
    ["a", "c"],
  );
});

Deno.test("noticeFor() falls back to a plain body without attention text", () => {
  assert.deepEqual(noticeFor(agent("build-1", "needs-input")), {
    agentId: "build-1",
    title: "build-1 needs you",
    body: "It is waiting for input.",
    tag: "flightdeck-agent-build-1",
  });
});

/** A browser-like Notification recording its instances and permission asks. */
function fakeNotification(
  initial: NotificationPermission,
  answer: NotificationPermission,
) {
  let asked = 0;
  class Api {
    static permission: NotificationPermission = initial;
    static requestPermission() {
      asked++;
      Api.permission = answer;
      return Promise.resolve(answer);
    }
    onclick: ((event: Event) => void) | null = null;
    closed = false;
    constructor(
      readonly title: string,
      readonly options?: NotificationOptions,
    ) {
      made.push(this);
    }
    close() {
      this.closed = true;
    }
  }
  const made: Api[] = [];
  return { Api, made, asked: () => asked };
}

function memoryStorage(initial: Record<string, string> = {}) {
  const map = new Map(Object.entries(initial));
  return {
    map,
    getItem: (k: string) => map.get(k) ?? null,
    setItem: (k: string, v: string) => void map.set(k, v),
  };
}

const notice = noticeFor(agent("build-1", "needs-input", {
  attention: "Do you want to create hello.txt?",
}));

Deno.test("NotifyControl asks permission only on toggle, remembers the choice, shows notices while on", async () => {
  const n = fakeNotification("default", "granted");
  const storage = memoryStorage();
  let focused = 0;
  const control = new NotifyControl({
    Notification: n.Api,
    storage,
    focus: () => focused++,
  });
  // Loading asks nothing and shows nothing.
  assert.deepEqual(control.state.value, "off");
  assert.deepEqual(n.asked(), 0);
  assert.deepEqual(control.show([notice], () => {}), 0);
  assert.deepEqual(n.made.length, 0);

  assert.deepEqual(await control.toggle(), "on");
  assert.deepEqual(n.asked(), 1);
  assert.deepEqual(storage.map.get(NOTIFY_STORAGE_KEY), "on");

  const opened: string[] = [];
  assert.deepEqual(control.show([notice], (id) => opened.push(id)), 1);
  assert.deepEqual(n.made.map((m) => [m.title, m.options]), [[
    "build-1 needs you",
    {
      body: "Do you want to create hello.txt?",
      tag: "flightdeck-agent-build-1",
    },
  ]]);
  // A click focuses the tab, opens the agent and closes the notification.
  n.made[0].onclick!(new Event("click"));
  assert.deepEqual([focused, opened, n.made[0].closed], [1, ["build-1"], true]);

  // A new page with the stored choice starts on, without asking again.
  const again = new NotifyControl({
    Notification: n.Api,
    storage,
    focus: () => {},
  });
  assert.deepEqual(again.state.value, "on");
  assert.deepEqual(n.asked(), 1);

  // Off is remembered too.
  assert.deepEqual(await again.toggle(), "off");
  assert.deepEqual(storage.map.get(NOTIFY_STORAGE_KEY), "off");
  assert.deepEqual(again.show([notice], () => {}), 0);
  assert.deepEqual(n.made.length, 1);
});

Deno.test("NotifyControl: a denied permission is blocked, a dismissed prompt stays off, no API is unsupported", async () => {
  const denied = fakeNotification("default", "denied");
  const storage = memoryStorage();
  const control = new NotifyControl({
    Notification: denied.Api,
    storage,
    focus: () => {},
  });
  assert.deepEqual(await control.toggle(), "blocked");
  assert.deepEqual(storage.map.has(NOTIFY_STORAGE_KEY), false);

  const dismissed = fakeNotification("default", "default");
  const other = new NotifyControl({
    Notification: dismissed.Api,
    storage,
    focus: () => {},
  });
  assert.deepEqual(await other.toggle(), "off");

  const none = new NotifyControl({
    Notification: undefined,
    storage,
    focus: () => {},
  });
  assert.deepEqual(none.state.value, "unsupported");
  assert.deepEqual(none.show([notice], () => {}), 0);
});

Deno.test("NotifyControl shows nothing once the permission was revoked in the browser", async () => {
  const n = fakeNotification("default", "granted");
  const control = new NotifyControl({
    Notification: n.Api,
    storage: memoryStorage(),
    focus: () => {},
  });
  await control.toggle();
  (n.Api as { permission: NotificationPermission }).permission = "denied";
  assert.deepEqual(control.show([notice], () => {}), 0);
  assert.deepEqual(control.state.value, "blocked");
  assert.deepEqual(n.made.length, 0);
});

Deno.test("NotifyControl.show() does not throw where the browser refuses the constructor (Chrome on Android)", async () => {
  const n = fakeNotification("default", "granted");
  const control = new NotifyControl({
    Notification: n.Api,
    storage: memoryStorage(),
    focus: () => {},
  });
  await control.toggle(); // grants the permission
  class Refusing extends n.Api {
    constructor(title: string) {
      super(title);
      throw new TypeError("Illegal constructor");
    }
  }
  const refusing = new NotifyControl({
    Notification: Refusing,
    storage: memoryStorage({ [NOTIFY_STORAGE_KEY]: "on" }),
    focus: () => {},
  });
  assert.equal(refusing.state.value, "on");
  assert.equal(refusing.show([notice, notice], () => {}), 0);
  assert.equal(refusing.state.value, "unsupported");
  // Not tried again.
  assert.equal(refusing.show([notice], () => {}), 0);
  assert.equal(refusing.state.value, "unsupported");
});
