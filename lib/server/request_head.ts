/**
 * Reading an HTTP/1 request head (request line and headers) off a byte
 * stream, bounded in size. Used by the connection guard.
 *
 * @module
 */

/** Bytes of the first read; the buffer grows up to the cap as needed. */
const FIRST_READ = 4096;

/**
 * Index just past the blank line ending a head (`\r\n\r\n`, or `\n\n` as
 * HTTP/1.1 parsers also accept) in `bytes`, searching from `from`; -1 when
 * the head is not complete.
 */
export function headEnd(bytes: Uint8Array, from = 0): number {
  for (let i = Math.max(from, 1); i < bytes.length; i++) {
    if (bytes[i] !== 0x0a) continue;
    if (bytes[i - 1] === 0x0a) return i + 1;
    if (bytes[i - 1] === 0x0d && i >= 2 && bytes[i - 2] === 0x0a) return i + 1;
  }
  return -1;
}

/**
 * Read until a complete request head has arrived and return every byte read
 * so far (the head and whatever followed it in the same reads). Returns
 * `"too-large"` as soon as the head would exceed `maxBytes`, and null when
 * the stream ends first.
 *
 * @param read reads into the buffer, resolving the count or null at the end.
 * @throws whatever `read` throws.
 */
export async function readRequestHead(
  read: (buf: Uint8Array) => Promise<number | null>,
  maxBytes: number,
): Promise<Uint8Array | "too-large" | null> {
  let buf = new Uint8Array(Math.min(FIRST_READ, maxBytes + 1));
  let length = 0;
  for (;;) {
    if (length === buf.length) {
      if (length > maxBytes) return "too-large";
      const bigger = new Uint8Array(Math.min(buf.length * 2, maxBytes + 1));
      bigger.set(buf);
      buf = bigger;
    }
    const n = await read(buf.subarray(length));
    if (n === null) return null;
    const searchFrom = Math.max(0, length - 3);
    length += n;
    const end = headEnd(buf.subarray(0, length), searchFrom);
    if (end >= 0) return end <= maxBytes ? buf.slice(0, length) : "too-large";
    if (length > maxBytes) return "too-large";
  }
}
