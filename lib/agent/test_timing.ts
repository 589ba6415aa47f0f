/**
 * For agent tests that run real processes under fake timers: a real-time
 * guard, so a bug fails the test instead of hanging it.
 *
 * @module
 */

/** The real timers, captured before any test installs fake ones. */
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;

/** `promise`, or a failure after `ms` of real time (so a bug cannot hang the test). */
export async function within<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof realSetTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = realSetTimeout(() => reject(new Error(`Not ${what}`)), ms);
      }),
    ]);
  } finally {
    realClearTimeout(timer);
  }
}
