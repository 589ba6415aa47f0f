/**
 * A WebSocket client written over a raw TCP connection, for attacks a
 * browser or Deno's WebSocket cannot make: frames of any size sent without
 * waiting, written with a zero mask key (so the payload goes out as it is),
 * and a client that ignores the server's close frame and keeps writing.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The outcome of an upgrade request. */
export interface UpgradeResult {
  /** HTTP status of the answer (101 when upgraded). */
  status: number;
  /** Body of a refusal (empty after a 101). */
  body: string;
  /** The socket, when upgraded. */
  socket: RawSocket | null;
}

/** A client WebSocket over a raw TCP connection. */
export class RawSocket {
  readonly conn: Deno.TcpConn;
  /** Close code of the server's close frame, if one arrived. */
  closeCode: number | null = null;
  /** Whether the TCP connection ended (EOF or error while reading). */
  ended = false;
  /** Text frames received, decoded. */
  readonly texts: string[] = [];
  #done: Promise<void> | null = null;
  #buffer: Uint8Array;
  #waiters = new Set<() => void>();

  private constructor(conn: Deno.TcpConn, leftover: Uint8Array, read: boolean) {
    this.conn = conn;
    this.#buffer = leftover;
    if (read) this.read();
  }

  /** Start reading (once); a socket opened with `read: false` reads nothing until then. */
  read(): void {
    this.#done ??= this.#read();
  }

  /**
   * Send an upgrade request for `path` on `127.0.0.1:port` with `headers`
   * and read the answer's head (and a refusal's body).
   */
  static async open(
    port: number,
    path: string,
    headers: Record<string, string> = {},
    options: { read?: boolean } = {},
  ): Promise<UpgradeResult> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const lines = [
      `GET ${path} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version: 13",
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    await writeAll(conn, encoder.encode(`${lines.join("\r\n")}\r\n\r\n`));
    let data: Uint8Array = new Uint8Array(0);
    let end = -1;
    const chunk = new Uint8Array(64 * 1024);
    while (end < 0) {
      const n = await conn.read(chunk);
      if (n === null) break;
      data = concat(data, chunk.subarray(0, n));
      end = indexOfHeadEnd(data);
    }
    if (end < 0) {
      conn.close();
      return { status: 0, body: "", socket: null };
    }
    const head = decoder.decode(data.subarray(0, end));
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
    const rest = data.subarray(end + 4);
    if (status === 101) {
      return {
        status,
        body: "",
        socket: new RawSocket(conn, rest, options.read ?? true),
      };
    }
    const length = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    let body = rest;
    while (body.length < length) {
      const n = await conn.read(chunk).catch(() => null);
      if (n === null) break;
      body = concat(body, chunk.subarray(0, n));
    }
    conn.close();
    return { status, body: decoder.decode(body), socket: null };
  }

  /**
   * Write one text frame holding `payload` (already valid UTF-8). Returns
   * false when the server closed the connection before all of it was
   * written.
   */
  async sendText(payload: Uint8Array | string): Promise<boolean> {
    const bytes = typeof payload === "string"
      ? encoder.encode(payload)
      : payload;
    try {
      await writeAll(this.conn, frameHeader(bytes.length));
      await writeAll(this.conn, bytes);
      return true;
    } catch {
      return false;
    }
  }

  /** Resolve once `predicate()` holds (checked after every read). */
  async until(predicate: () => boolean): Promise<void> {
    this.read();
    while (!predicate()) {
      if (this.ended) {
        if (!predicate()) throw new Error("Connection ended first");
        return;
      }
      await new Promise<void>((resolve) => this.#waiters.add(resolve));
    }
  }

  /** Close the TCP connection and wait for the reader to stop. */
  async dispose(): Promise<void> {
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
    await this.#done;
  }

  /** Parsed text frames (JSON). */
  messages(): { type: string; payload: Record<string, unknown> }[] {
    return this.texts.map((text) => JSON.parse(text));
  }

  async #read(): Promise<void> {
    const chunk = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        this.#parse();
        const n = await this.conn.read(chunk);
        if (n === null) break;
        this.#buffer = concat(this.#buffer, chunk.subarray(0, n));
      }
    } catch {
      // Reset or closed by dispose().
    }
    this.ended = true;
    this.#wake();
  }

  #parse(): void {
    for (;;) {
      const b = this.#buffer;
      if (b.length < 2) return;
      const opcode = b[0] & 0x0f;
      let length = b[1] & 0x7f;
      let at = 2;
      if (length === 126) {
        if (b.length < 4) return;
        length = (b[2] << 8) | b[3];
        at = 4;
      } else if (length === 127) {
        if (b.length < 10) return;
        length = Number(new DataView(b.buffer, b.byteOffset).getBigUint64(2));
        at = 10;
      }
      if (b.length < at + length) return;
      const payload = b.subarray(at, at + length);
      if (opcode === 1) this.texts.push(decoder.decode(payload));
      if (opcode === 8) {
        this.closeCode = payload.length >= 2
          ? (payload[0] << 8) | payload[1]
          : 1005;
      }
      this.#buffer = b.slice(at + length);
      this.#wake();
    }
  }

  #wake(): void {
    for (const waiter of this.#waiters) waiter();
    this.#waiters.clear();
  }
}

/** A masked (with a zero key) FIN text frame header for `length` bytes. */
function frameHeader(length: number): Uint8Array {
  if (length < 126) return new Uint8Array([0x81, 0x80 | length, 0, 0, 0, 0]);
  if (length < 65536) {
    return new Uint8Array([
      0x81,
      0x80 | 126,
      length >> 8,
      length & 255,
      0,
      0,
      0,
      0,
    ]);
  }
  const header = new Uint8Array(14);
  header[0] = 0x81;
  header[1] = 0x80 | 127;
  new DataView(header.buffer).setBigUint64(2, BigInt(length));
  return header; // Bytes 10..13: the zero mask key.
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function indexOfHeadEnd(data: Uint8Array): number {
  for (let i = 0; i + 3 < data.length; i++) {
    if (
      data[i] === 13 && data[i + 1] === 10 && data[i + 2] === 13 &&
      data[i + 3] === 10
    ) return i;
  }
  return -1;
}
