import assert from "node:assert/strict";
import { FlightdeckError, storageUnavailable } from "./errors.ts";

Deno.test("storageUnavailable: the Redis client's errors for an unreachable Redis, by name or message, also as a cause", () => {
  const named = (name: string, message: string) =>
    Object.assign(new Error(message), { name });
  for (
    const error of [
      named("MaxRetriesPerRequestError", "Reached the max retries"),
      new Error("Stream isn't writeable and enableOfflineQueue is false"),
      new Error("Connection is closed."),
      // A pipeline or MULTI not wholly written when the connection closed.
      named("AbortError", "Command aborted due to connection close"),
      new Error("Command timed out"),
      new Error("LOADING Redis is loading the dataset in memory"),
      new Error("wrapped", { cause: new Error("Connection is closed.") }),
    ]
  ) {
    const found = storageUnavailable(error);
    assert.ok(found, error.message);
    assert.equal(found.code, "STORAGE_UNAVAILABLE");
  }
  for (
    const error of [
      new Error("ERR syntax error"),
      new FlightdeckError("NOT_FOUND", "gone"),
      "Connection is closed.",
    ]
  ) assert.equal(storageUnavailable(error), null, String(error));
});
