import assert from "node:assert/strict";
import { ConnectionLimits } from "./connection_limits.ts";

const limits = () =>
  new ConnectionLimits({
    maxPerUser: 2,
    maxPerAddress: 3,
    maxUnauthenticatedPerAddress: 1,
    maxUnauthenticated: 2,
  });
const dashboard = (address: string, userId: string | null) => ({
  address,
  userId,
  perAddress: true,
});

Deno.test("ConnectionLimits.admit() refuses a user over maxPerUser from any address", () => {
  const l = limits();
  assert.equal(l.admit("1", dashboard("a", "u")), null);
  assert.equal(l.admit("2", dashboard("b", "u")), null);
  assert.equal(
    l.admit("3", dashboard("c", "u")),
    'Too many connections for user "u" (limit 2)',
  );
  assert.equal(l.countOf({ userId: "u" }), 2);
  assert.equal(l.release("1"), true);
  assert.equal(l.release("1"), false);
  assert.equal(l.admit("3", dashboard("c", "u")), null);
});

Deno.test("ConnectionLimits.admit() refuses an address over maxPerAddress over all users", () => {
  const l = limits();
  assert.equal(l.admit("1", dashboard("a", "u")), null);
  assert.equal(l.admit("2", dashboard("a", "v")), null);
  assert.equal(l.admit("3", dashboard("a", null)), null);
  assert.equal(
    l.admit("4", dashboard("a", "w")),
    'Too many connections from "a" (limit 3)',
  );
  // Agents count per agent only.
  assert.equal(
    l.admit("5", { address: "a", userId: "agent:x", perAddress: false }),
    null,
  );
  assert.equal(l.countOf({ address: "a" }), 3);
});

Deno.test("ConnectionLimits caps unauthenticated connections per address and over all", () => {
  const l = limits();
  assert.equal(l.admit("1", dashboard("a", null)), null);
  assert.equal(
    l.admit("2", dashboard("a", null)),
    'Too many unauthenticated connections from "a" (limit 1)',
  );
  assert.equal(l.admit("2", dashboard("b", null)), null);
  assert.equal(
    l.admit("3", dashboard("c", null)),
    "Too many unauthenticated connections (limit 2)",
  );
  assert.deepEqual(l.counts, { total: 2, unauthenticated: 2, refused: 2 });
  // Authenticating frees the unauthenticated slot.
  assert.equal(l.authenticate("1", "u"), null);
  assert.deepEqual(l.counts, { total: 2, unauthenticated: 1, refused: 2 });
  assert.equal(l.admit("3", dashboard("a", null)), null);
  assert.equal(l.countOf({ userId: "u" }), 1);
  assert.equal(l.countOf({ address: "a" }), 2);
});

Deno.test("ConnectionLimits.authenticate() over the user's cap refuses and releases", () => {
  const l = limits();
  l.admit("1", dashboard("a", "u"));
  l.admit("2", dashboard("b", "u"));
  l.admit("3", { address: "c", userId: null, perAddress: false });
  assert.equal(
    l.authenticate("3", "u"),
    'Too many connections for user "u" (limit 2)',
  );
  assert.deepEqual(l.counts, { total: 2, unauthenticated: 0, refused: 1 });
  assert.equal(l.countOf({ address: "c" }), 0);
  assert.equal(l.release("3"), false);
});

Deno.test("ConnectionLimits.authenticate() of an agent stops counting it at its address", () => {
  const l = limits();
  l.admit("1", { address: "a", userId: null, perAddress: false });
  assert.equal(l.countOf({ address: "a" }), 1);
  assert.equal(l.authenticate("1", "agent:x"), null);
  assert.equal(l.countOf({ address: "a" }), 0);
  assert.equal(l.countOf({ userId: "agent:x" }), 1);
  l.release("1");
  assert.deepEqual(l.counts, { total: 0, unauthenticated: 0, refused: 0 });
  assert.equal(l.countOf({ userId: "agent:x" }), 0);
});

Deno.test("ConnectionLimits rejects a cap below 1", () => {
  assert.throws(
    () =>
      new ConnectionLimits({
        maxPerUser: 0,
        maxPerAddress: 1,
        maxUnauthenticatedPerAddress: 1,
        maxUnauthenticated: 1,
      }),
    RangeError,
  );
});

Deno.test("ConnectionLimits counts IPv6 addresses of one /64 together", () => {
  const l = limits();
  assert.equal(l.admit("1", dashboard("2001:db8:0:1::a", null)), null);
  assert.equal(
    l.admit("2", dashboard("2001:db8:0:1::b", null)),
    'Too many unauthenticated connections from "2001:db8:0:1::/64" (limit 1)',
  );
  assert.equal(l.admit("2", dashboard("2001:db8:0:2::b", null)), null);
  assert.equal(l.countOf({ address: "2001:db8:0:1:ffff::" }), 1);
});
