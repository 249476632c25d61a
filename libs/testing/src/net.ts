import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';

function tcpFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

function udpFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const u = createSocket('udp4');
    u.once('error', () => resolve(false));
    u.bind(port, host, () => u.close(() => resolve(true)));
  });
}

/** Lowest port the kernel hands out on its own (ephemeral ports of clients and port-0 binds). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32768;
  } catch {
    return 32768;
  }
}

/** Above the relayed ports of the TURN benchmark (20000-24999), which may run beside the tests. */
const LOWEST = 25_000;

/**
 * A port that was free a moment ago for TCP and UDP on every address. It is chosen below the
 * kernel's ephemeral range, so no client socket or port-0 bind (of the node under test, SIPp, a
 * DNS query) takes it while the test has not bound it yet, or between a node's stop and its
 * restart on the same ports.
 */
export async function freePort(): Promise<number> {
  const high = Math.max(LOWEST + 1000, ephemeralLow());
  for (;;) {
    const port = LOWEST + Math.floor(Math.random() * (high - LOWEST));
    if ((await tcpFree(port, '0.0.0.0')) && (await udpFree(port, '0.0.0.0'))) return port;
  }
}

/**
 * A port p with p and p+1 both free a moment ago (TCP and UDP), for peers that take the next port
 * too (baresip listens for SIP over TLS on its SIP port + 1).
 */
export async function freePortPair(): Promise<number> {
  for (;;) {
    const p = await freePort();
    if ((await tcpFree(p + 1, '0.0.0.0')) && (await udpFree(p + 1, '0.0.0.0'))) return p;
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
