import assert from "node:assert/strict";
import { LoginThrottle } from "./login_throttle.ts";

Deno.test("LoginThrottle refuses an address after the limit until its oldest failure leaves the window", () => {
  const throttle = new LoginThrottle(3, 1000);
  throttle.fail("10.0.0.1", 0);
  throttle.fail("10.0.0.1", 100);
  assert.equal(throttle.retryAfterMs("10.0.0.1", 200), 0);
  throttle.fail("10.0.0.1", 200);
  assert.equal(throttle.retryAfterMs("10.0.0.1", 200), 800);
  assert.equal(throttle.retryAfterMs("10.0.0.2", 200), 0);
  assert.equal(throttle.retryAfterMs("10.0.0.1", 999), 1);
  assert.equal(throttle.retryAfterMs("10.0.0.1", 1000), 0);
});

Deno.test("LoginThrottle remembers at most maxAddresses, dropping the oldest", () => {
  const throttle = new LoginThrottle(1, 60_000, 2);
  throttle.fail("a", 1);
  throttle.fail("b", 2);
  throttle.fail("c", 3);
  assert.equal(throttle.size, 2);
  assert.equal(throttle.retryAfterMs("a", 4), 0);
  assert.equal(throttle.retryAfterMs("c", 4), 59_999);
});

Deno.test("LoginThrottle forgets an address whose failures all left the window", () => {
  const throttle = new LoginThrottle(2, 1000);
  throttle.fail("a", 0);
  assert.equal(throttle.retryAfterMs("a", 1000), 0);
  assert.equal(throttle.size, 0);
});

Deno.test("LoginThrottle constructor throws RangeError for a non-positive limit", () => {
  assert.throws(() => new LoginThrottle(0, 1000), RangeError);
  assert.throws(() => new LoginThrottle(1, 0), RangeError);
});

Deno.test("LoginThrottle counts every address of one IPv6 /64 together", () => {
  const throttle = new LoginThrottle(2, 1000);
  throttle.fail("2001:db8:1:2::a", 0);
  throttle.fail("2001:db8:1:2::b", 0);
  assert.equal(throttle.retryAfterMs("2001:db8:1:2::c", 0), 1000);
  assert.equal(throttle.retryAfterMs("2001:db8:1:3::a", 0), 0);
});

Deno.test("LoginThrottle.forgive() takes back one failure, and only that one", () => {
  const throttle = new LoginThrottle(2, 60_000);
  throttle.fail("a", 1000);
  throttle.fail("a", 2000);
  assert.ok(throttle.retryAfterMs("a", 2500) > 0);
  throttle.forgive("a", 2000);
  assert.equal(throttle.retryAfterMs("a", 2500), 0);
  throttle.forgive("a", 5000); // never recorded: nothing changes
  throttle.fail("a", 3000);
  assert.ok(throttle.retryAfterMs("a", 3500) > 0);
  throttle.forgive("a", 1000);
  throttle.forgive("a", 3000);
  assert.equal(throttle.size, 0);
});
