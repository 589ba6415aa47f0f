/**
 * The key client addresses are counted by, for every per-address limit
 * (connection guard, socket and SSE caps, sign-in throttle): one IPv4
 * address, or one IPv6 /64 (the smallest block one subscriber usually gets).
 *
 * @module
 */

/**
 * The counting key of `hostname`: IPv4 as it is (IPv4-mapped IPv6 unwrapped),
 * IPv6 by its /64 prefix in lower case without leading zeros. Brackets and a
 * zone index (`%eth0`) are ignored.
 *
 * @example
 * ```ts
 * addressKey("::ffff:192.0.2.7"); // "192.0.2.7"
 * addressKey("[2001:DB8::1]"); // "2001:db8:0:0::/64"
 * ```
 */
export function addressKey(hostname: string): string {
  const host = hostname.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
  if (mapped) return mapped[1];
  if (!host.includes(":")) return host;
  const [head, tail = ""] = host.split("::");
  const left = head ? head.split(":") : [];
  const right = host.includes("::") && tail ? tail.split(":") : [];
  const groups = host.includes("::")
    ? [
      ...left,
      ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"),
      ...right,
    ]
    : left;
  return groups.slice(0, 4).map((g) => (parseInt(g, 16) || 0).toString(16))
    .join(":") + "::/64";
}
