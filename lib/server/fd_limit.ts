/**
 * The process's open-file limit (`RLIMIT_NOFILE`), read and raised through
 * libc with FFI: Deno has no `setrlimit` API. Skipped (returns null) where
 * FFI is unavailable (Deno Deploy, no `--allow-ffi`) or the platform is not
 * Linux or macOS.
 *
 * @module
 */

/** Soft and hard open-file limits. */
export interface FileLimit {
  soft: number;
  hard: number;
}

const PLATFORM = {
  linux: { lib: "libc.so.6", resource: 7 },
  darwin: { lib: "/usr/lib/libSystem.B.dylib", resource: 8 },
} as const;

/** macOS refuses a soft limit over OPEN_MAX, even when the hard one is higher. */
const DARWIN_OPEN_MAX = 10240;

const SYMBOLS = {
  getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
} as const;

function withLibc<T>(
  fn: (
    lib: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"],
    resource: number,
  ) => T,
): T | null {
  const platform = PLATFORM[Deno.build.os as keyof typeof PLATFORM];
  if (!platform || typeof Deno.dlopen !== "function") return null;
  // Never prompt for FFI: without the permission, skip.
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
      return null;
    }
  } catch {
    return null;
  }
  let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  try {
    lib = Deno.dlopen(platform.lib, SYMBOLS);
  } catch {
    return null; // No FFI permission, or no such library.
  }
  try {
    return fn(lib.symbols, platform.resource);
  } finally {
    lib.close();
  }
}

const toNumber = (v: bigint) =>
  v > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(v);

/** The current limits, or null where they cannot be read. */
export function fileLimit(): FileLimit | null {
  return withLibc((libc, resource) => {
    const buf = new BigUint64Array(2);
    if (libc.getrlimit(resource, buf) !== 0) return null;
    return { soft: toNumber(buf[0]), hard: toNumber(buf[1]) };
  });
}

/**
 * Raise the soft open-file limit to the hard limit (on macOS at most
 * OPEN_MAX). Returns the limits in force afterwards, or null where they
 * cannot be read; a refused raise leaves the old limits and returns them.
 */
export function raiseFileLimit(): FileLimit | null {
  return withLibc((libc, resource) => {
    const buf = new BigUint64Array(2);
    if (libc.getrlimit(resource, buf) !== 0) return null;
    let target = buf[1];
    if (Deno.build.os === "darwin" && target > BigInt(DARWIN_OPEN_MAX)) {
      target = BigInt(DARWIN_OPEN_MAX);
    }
    if (buf[0] < target) {
      const wanted = new BigUint64Array([target, buf[1]]);
      if (libc.setrlimit(resource, wanted) === 0) buf[0] = target;
    }
    return { soft: toNumber(buf[0]), hard: toNumber(buf[1]) };
  });
}
