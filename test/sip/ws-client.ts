// A SIP user agent over WebSocket (RFC 7118) for the end-to-end suites: the "sip" subprotocol,
// one SIP message per WebSocket message, a Via and Contact with an invented .invalid host as
// browser clients use, digest answers to 401/407, and requests from the server answered 200.
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import {
  challengesFromHeaders,
  computeAuthorization,
  createRequest,
  createResponse,
  generateCallId,
  generateTag,
  parseMessage,
  serializeDigestCredentials,
  type SipMessage,
  type SipRequest,
  type SipResponse,
} from '@traverse/sip';

export class WsSipClient {
  /** Requests the server sent to this client (each answered 200 unless autoAnswer is off). */
  readonly requests: SipRequest[] = [];
  autoAnswer = true;
  readonly host = `${randomBytes(6).toString('hex')}.invalid`;
  private readonly responses: SipResponse[] = [];
  private waiters: Array<() => void> = [];
  private cseq = 1;
  private readonly callId = generateCallId();
  private readonly fromTag = generateTag();

  private constructor(
    readonly ws: WebSocket,
    readonly transport: 'WS' | 'WSS',
    readonly user: string,
    readonly domain: string,
  ) {
    ws.on('message', (data: Buffer) => {
      const p = parseMessage(Buffer.isBuffer(data) ? data : Buffer.from(data));
      if (!p.ok) return;
      const m: SipMessage = p.value;
      if (m.kind === 'response') this.responses.push(m);
      else {
        this.requests.push(m);
        if (this.autoAnswer && m.method !== 'ACK') this.ws.send(createResponse(m, 200).toBuffer().toString('utf8'));
      }
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    });
  }

  static connect(url: string, opts: { user: string; domain: string; ca?: string }): Promise<WsSipClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, ['sip'], opts.ca ? { ca: opts.ca } : {});
      ws.once('open', () => resolve(new WsSipClient(ws, url.startsWith('wss:') ? 'WSS' : 'WS', opts.user, opts.domain)));
      ws.once('error', reject);
    });
  }

  get aor(): string {
    return `sip:${this.user}@${this.domain}`;
  }

  get contact(): string {
    return `sip:${this.user}@${this.host};transport=${this.transport.toLowerCase()}`;
  }

  /** Waits until `pick` finds something among what arrived. */
  async wait<T>(what: string, pick: () => T | undefined, ms = 10_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const v = pick();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`no ${what} within ${ms} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(200, Math.max(1, end - Date.now())));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  private async roundTrip(build: (extra: Array<[string, string]>, cseq: number) => SipRequest, password: string): Promise<SipResponse> {
    let extra: Array<[string, string]> = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const cseq = this.cseq++;
      const req = build(extra, cseq);
      const branch = req.topVia?.branch;
      this.ws.send(req.toBuffer().toString('utf8'));
      const res = await this.wait(`final response to ${req.method}`, () => {
        const i = this.responses.findIndex((r) => r.topVia?.branch === branch && r.status >= 200);
        return i < 0 ? undefined : this.responses.splice(i, 1)[0];
      });
      if (res.status !== 401 && res.status !== 407) return res;
      const header = res.status === 401 ? 'www-authenticate' : 'proxy-authenticate';
      const ch = challengesFromHeaders(res.headerValues(header))[0];
      if (ch === undefined) return res;
      const creds = computeAuthorization(ch, { username: this.user, password, method: req.method, uri: req.requestUri });
      if (!creds.ok) throw new Error(`digest: ${creds.error.reason}`);
      extra = [[res.status === 401 ? 'Authorization' : 'Proxy-Authorization', serializeDigestCredentials(creds.value)]];
    }
    throw new Error('challenged three times');
  }

  /** REGISTER with digest authentication; resolves with the final response. */
  register(password: string, expires = 300): Promise<SipResponse> {
    return this.roundTrip(
      (extra, cseq) =>
        createRequest({
          method: 'REGISTER',
          uri: `sip:${this.domain}`,
          from: { uri: this.aor, tag: this.fromTag },
          to: { uri: this.aor },
          callId: this.callId,
          cseq,
          via: { transport: this.transport, host: this.host },
          contact: `<${this.contact}>`,
          headers: [['Expires', String(expires)], ['User-Agent', 'traverse WebSocket test client'], ...extra],
        }),
      password,
    );
  }

  /** A MESSAGE to another user through the server, answering a proxy challenge. */
  message(to: string, text: string, password: string): Promise<SipResponse> {
    const callId = generateCallId();
    const tag = generateTag();
    return this.roundTrip(
      (extra, cseq) =>
        createRequest({
          method: 'MESSAGE',
          uri: to,
          from: { uri: this.aor, tag },
          to: { uri: to },
          callId,
          cseq,
          via: { transport: this.transport, host: this.host },
          headers: extra,
          body: text,
          contentType: 'text/plain',
        }),
      password,
    );
  }

  close(): void {
    this.ws.close();
  }
}
