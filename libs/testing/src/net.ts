import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { request } from 'node:https';

function tcpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * A port p on 127.0.0.1 with p and p+1 both free a moment ago (TCP and UDP), for peers that take
 * the next port too (baresip listens for SIP over TLS on its SIP port + 1).
 */
export async function freePortPair(): Promise<number> {
  for (;;) {
    const p = await freePort();
    if (p < 65535 && (await tcpFree(p + 1))) return p;
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago (and free for UDP too). */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const u = createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(port, '127.0.0.1', () => u.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
}

export interface HttpsResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** GET over HTTPS, verifying the server against the given CA (PEM). */
export function httpsGet(url: string, ca: string | undefined, timeoutMs = 5000): Promise<HttpsResult> {
  return httpsRequest(url, ca, 'GET', undefined, timeoutMs);
}

/** A request over HTTPS with an optional JSON body, verifying the server against the given CA (PEM). */
export function httpsRequest(url: string, ca: string | undefined, method: string, json?: unknown, timeoutMs = 5000): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const body = json === undefined ? undefined : Buffer.from(JSON.stringify(json));
    const headers = body ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {};
    const req = request(url, { method, headers, ...(ca ? { ca } : { rejectUnauthorized: false }), timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${url}`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Polls until fn returns a value (not undefined) or the time runs out. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
