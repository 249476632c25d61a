// Transaction state machines (RFC 3261 17, RFC 6026) driven by a fake clock.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequest, createResponse } from '../builders';
import { parseMessage } from '../parser';
import type { SipMessage, SipRequest, SipResponse } from '../message';
import { ManualScheduler } from './timers';
import { TransactionLayer, createCancel } from './layer';
import type { ClientTransaction, ServerTransaction, TerminationReason, TransactionChannel } from './transaction';

class FakeChannel implements TransactionChannel {
  sent: SipMessage[] = [];
  fail = false;
  constructor(readonly reliable = false) {}
  send(msg: SipMessage): boolean {
    if (this.fail) return false;
    // serialise and parse back, as a wire would
    const r = parseMessage(msg.toBuffer());
    assert.ok(r.ok, 'sent messages parse');
    this.sent.push(r.value);
    return true;
  }
  requests(method?: string): SipRequest[] {
    return this.sent.filter((m): m is SipRequest => m.kind === 'request' && (method === undefined || m.method === method));
  }
  responses(): SipResponse[] {
    return this.sent.filter((m): m is SipResponse => m.kind === 'response');
  }
}

/** A channel that also encodes: a completed transaction keeps the bytes it resends. */
class EncodingChannel extends FakeChannel {
  encoded: Uint8Array[] = [];
  encode(msg: SipMessage): Uint8Array {
    return msg.toBuffer();
  }
  sendEncoded(wire: Uint8Array): boolean {
    if (this.fail) return false;
    this.encoded.push(wire);
    const r = parseMessage(Buffer.from(wire));
    assert.ok(r.ok, 'sent bytes parse');
    this.sent.push(r.value);
    return true;
  }
}

function request(method: string, branch?: string): SipRequest {
  return createRequest({
    method,
    uri: 'sip:bob@example.com',
    from: { uri: 'sip:alice@example.com', tag: 'ftag' },
    to: { uri: 'sip:bob@example.com' },
    via: { transport: 'UDP', host: '192.0.2.1', port: 5060, ...(branch ? { branch } : {}) },
    callId: 'call-1@192.0.2.1',
    cseq: 7,
  });
}

/** Serialise and parse, as the request arrives at a server. */
function wire<T extends SipMessage>(m: T): T {
  const r = parseMessage(m.toBuffer());
  assert.ok(r.ok);
  return r.value as T;
}

function setup(timers: { t1?: number; t2?: number; t4?: number; trying?: number } = {}) {
  const clock = new ManualScheduler();
  const ended: Array<[string, TerminationReason]> = [];
  const layer = new TransactionLayer({ scheduler: clock, timers, onTerminated: (tx, why) => ended.push([tx.kind, why]) });
  return { clock, layer, ended };
}

function clientUser() {
  const got: SipResponse[] = [];
  let timeouts = 0;
  let transportErrors = 0;
  const ended: TerminationReason[] = [];
  return {
    got,
    get timeouts() {
      return timeouts;
    },
    get transportErrors() {
      return transportErrors;
    },
    ended,
    user: {
      response: (r: SipResponse) => got.push(r),
      timeout: () => timeouts++,
      transportError: () => transportErrors++,
      terminated: (_tx: ClientTransaction, why: TerminationReason) => ended.push(why),
    },
  };
}

describe('INVITE client transaction', () => {
  it('retransmits with timer A doubling and times out with timer B (64*T1) over UDP', () => {
    const { clock, layer } = setup();
    const ch = new FakeChannel();
    const u = clientUser();
    const r = layer.sendRequest(request('INVITE'), ch, u.user);
    assert.ok(r.ok);
    assert.equal(r.value.state, 'calling');
    assert.equal(ch.sent.length, 1);
    const at: number[] = [];
    for (let t = 0; t < 31_900; t += 100) {
      const before = ch.sent.length;
      clock.advance(100);
      if (ch.sent.length > before) at.push(clock.now());
    }
    // A fires at 500, 1500, 3500, 7500, 15500, 31500 ms
    assert.deepEqual(at, [500, 1500, 3500, 7500, 15500, 31500]);
    assert.equal(u.timeouts, 0);
    clock.advance(100);
    assert.equal(u.timeouts, 1);
    assert.equal(r.value.state, 'terminated');
    assert.deepEqual(u.ended, ['timeout']);
    assert.equal(layer.clientCount, 0);
    assert.equal(clock.pending, 0);
  });

  it('does not retransmit over a reliable transport', () => {
    const { clock, layer } = setup();
    const ch = new FakeChannel(true);
    const u = clientUser();
    layer.sendRequest(request('INVITE'), ch, u.user);
    clock.advance(31_999);
    assert.equal(ch.sent.length, 1);
    clock.advance(1);
    assert.equal(u.timeouts, 1);
  });

  it('stops retransmitting on 1xx, builds the ACK for a non-2xx and resends it on retransmissions until timer D', () => {
    const { clock, layer } = setup();
    const ch = new FakeChannel();
    const u = clientUser();
    const invite = request('INVITE');
    const tx = layer.sendRequest(invite, ch, u.user);
    assert.ok(tx.ok);
    const server = wire(invite);
    assert.equal(layer.receiveResponse(wire(createResponse(server, 180, { toTag: 'tt' }))), true);
    assert.equal(tx.value.state, 'proceeding');
    clock.advance(10_000);
    assert.equal(ch.sent.length, 1, 'no retransmission in Proceeding');
    assert.equal(u.timeouts, 0, 'no timer B in Proceeding');
    const busy = wire(createResponse(server, 486, { toTag: 'tt' }));
    layer.receiveResponse(busy);
    assert.equal(tx.value.state, 'completed');
    assert.deepEqual(
      u.got.map((r) => r.status),
      [180, 486],
    );
    const acks = ch.requests('ACK');
    assert.equal(acks.length, 1);
    const ack = acks[0];
    assert.equal(ack.topVia?.branch, invite.topVia?.branch, 'same branch as the INVITE');
    assert.equal(ack.toTag, 'tt');
    assert.equal(ack.requestUri, invite.requestUri);
    assert.deepEqual(ack.cseq, { seq: 7, method: 'ACK' });
    assert.equal(tx.value.released, true, 'the INVITE is not kept once the ACK is built');
    assert.equal(tx.value.lastResponse, undefined);
    layer.receiveResponse(busy);
    assert.equal(ch.requests('ACK').length, 2, 'ACK resent for a retransmitted final response');
    assert.equal(u.got.length, 2, 'the retransmission is not passed up');
    clock.advance(31_999);
    assert.equal(tx.value.state, 'completed');
    clock.advance(1);
    assert.equal(tx.value.state, 'terminated');
  });

  it('enters Accepted on 2xx, passes every 2xx up (RFC 6026) and ends after timer M', () => {
    const { clock, layer } = setup();
    const ch = new FakeChannel();
    const u = clientUser();
    const invite = request('INVITE');
    const tx = layer.sendRequest(invite, ch, u.user);
    assert.ok(tx.ok);
    const ok = wire(createResponse(wire(invite), 200, { toTag: 'a' }));
    layer.receiveResponse(ok);
    assert.equal(tx.value.state, 'accepted');
    // Accepted keeps neither the INVITE nor the 2xx for its 32 s: the TU has both
    assert.equal(tx.value.released, true);
    assert.equal(tx.value.lastResponse, undefined);
    assert.equal(tx.value.callId, invite.callId);
    layer.receiveResponse(ok);
    const forked = wire(createResponse(wire(invite), 200, { toTag: 'b' }));
    layer.receiveResponse(forked);
    assert.deepEqual(
      u.got.map((r) => r.toTag),
      ['a', 'a', 'b'],
    );
    assert.equal(ch.requests('ACK').length, 0, 'the TU acknowledges 2xx');
    clock.advance(32_000);
    assert.equal(tx.value.state, 'terminated');
    assert.equal(layer.receiveResponse(ok), false, 'a 2xx after timer M is stray');
  });

  it('reports a transport error and terminates', () => {
    const { layer } = setup();
    const ch = new FakeChannel();
    ch.fail = true;
    const u = clientUser();
    const tx = layer.sendRequest(request('INVITE'), ch, u.user);
    assert.ok(tx.ok);
    assert.equal(u.transportErrors, 1);
    assert.equal(tx.value.state, 'terminated');
    assert.deepEqual(u.ended, ['transport-error']);
  });
});

describe('non-INVITE client transaction', () => {
  it('retransmits with timer E capped at T2, at T2 in Proceeding, and times out with F', () => {
    const { clock, layer } = setup();
    const ch = new FakeChannel();
    const u = clientUser();
    const req = request('OPTIONS');
    const tx = layer.sendRequest(req, ch, u.user);
    assert.ok(tx.ok);
    const at: number[] = [];
    for (let t = 0; t < 12_000; t += 50) {
      const before = ch.sent.length;
      clock.advance(50);
      if (ch.sent.length > before) at.push(clock.now());
    }
    // 500, 1500, 3500, 7500, 11500 (interval 500, 1000, 2000, 4000, 4000)
    assert.deepEqual(at, [500, 1500, 3500, 7500, 11500]);
    layer.receiveResponse(wire(createResponse(wire(req), 100)));
    assert.equal(tx.value.state, 'proceeding');
    const n = ch.sent.length;
    clock.advance(4000);
    assert.equal(ch.sent.length, n + 1, 'Proceeding retransmits every T2');
    clock.advance(32_000 - clock.now());
    assert.equal(u.timeouts, 1);
    assert.equal(tx.value.state, 'terminated');
  });

  it('passes the final response up once and absorbs retransmissions until timer K (T4)', () => {
    const { clock, layer } = setup({ t1: 50, t2: 400, t4: 500 });
    const ch = new FakeChannel();
    const u = clientUser();
    const req = request('REGISTER');
    const tx = layer.sendRequest(req, ch, u.user);
    assert.ok(tx.ok);
    const ok = wire(createResponse(wire(req), 200));
    layer.receiveResponse(ok);
    assert.equal(tx.value.state, 'completed');
    assert.equal(tx.value.released, true, 'Completed keeps neither the request nor the response');
    assert.equal(tx.value.lastResponse, undefined);
    assert.equal(layer.receiveResponse(ok), true);
    assert.equal(u.got.length, 1);
    clock.advance(499);
    assert.equal(tx.value.state, 'completed');
    clock.advance(1);
    assert.equal(tx.value.state, 'terminated');
    assert.equal(ch.sent.length, 1, 'no retransmission after the final response');
  });

  it('terminates at once on a final response over a reliable transport', () => {
    const { layer } = setup();
    const ch = new FakeChannel(true);
    const u = clientUser();
    const req = request('REGISTER');
    const tx = layer.sendRequest(req, ch, u.user);
    assert.ok(tx.ok);
    layer.receiveResponse(wire(createResponse(wire(req), 200)));
    assert.equal(tx.value.state, 'terminated');
    assert.equal(layer.clientCount, 0);
  });

  it('matches responses by branch and CSeq method: a CANCEL and its INVITE are distinct', () => {
    const { layer } = setup();
    const ch = new FakeChannel();
    const inv = clientUser();
    const can = clientUser();
    const invite = request('INVITE');
    assert.ok(layer.sendRequest(invite, ch, inv.user).ok);
    const cancel = createCancel(invite);
    assert.equal(cancel.topVia?.branch, invite.topVia?.branch);
    assert.ok(layer.sendRequest(cancel, ch, can.user).ok);
    layer.receiveResponse(wire(createResponse(wire(cancel), 200)));
    layer.receiveResponse(wire(createResponse(wire(invite), 487, { toTag: 'x' })));
    assert.deepEqual(
      can.got.map((r) => r.status),
      [200],
    );
    assert.deepEqual(
      inv.got.map((r) => r.status),
      [487],
    );
    const other = wire(createResponse(wire(request('INVITE')), 200));
    assert.equal(layer.receiveResponse(other), false, 'another branch matches nothing');
  });

  it('refuses ACK, duplicates and requests without a branch', () => {
    const { layer } = setup();
    const ch = new FakeChannel();
    const u = clientUser();
    assert.deepEqual(layer.sendRequest(request('ACK'), ch, u.user), { ok: false, error: 'ack-has-no-transaction' });
    const r = request('OPTIONS');
    assert.ok(layer.sendRequest(r, ch, u.user).ok);
    assert.deepEqual(layer.sendRequest(r, ch, u.user), { ok: false, error: 'duplicate' });
  });
});

function serverUser() {
  const acks: SipRequest[] = [];
  let timeouts = 0;
  const ended: TerminationReason[] = [];
  return {
    acks,
    ended,
    get timeouts() {
      return timeouts;
    },
    user: {
      ack: (a: SipRequest) => acks.push(a),
      timeout: () => timeouts++,
      terminated: (_tx: ServerTransaction, why: TerminationReason) => ended.push(why),
    },
  };
}

describe('INVITE server transaction', () => {
  it('sends 100 Trying itself when the TU is silent for 200 ms, and answers retransmissions with the last provisional', () => {
    const { clock, layer } = setup();
    const ch = new FakeChannel();
    const invite = wire(request('INVITE'));
    assert.equal(layer.receiveRequest(invite), undefined);
    const tx = layer.createServer(invite, ch, serverUser().user);
    assert.ok(tx.ok);
    clock.advance(199);
    assert.equal(ch.sent.length, 0);
    clock.advance(1);
    assert.deepEqual(
      ch.responses().map((r) => r.status),
      [100],
    );
    assert.equal(layer.receiveRequest(wire(request('INVITE', invite.topVia!.branch))), tx.value, 'the retransmission matches');
    assert.deepEqual(
      ch.responses().map((r) => r.status),
      [100, 100],
    );
    tx.value.reply(180, { toTag: 't' });
    layer.receiveRequest(invite);
    assert.deepEqual(
      ch.responses().map((r) => r.status),
      [100, 100, 180, 180],
    );
  });

  it('sends no automatic 100 when the TU answers first', () => {
    const { clock, layer } = setup();
    const ch = new FakeChannel();
    const tx = layer.createServer(wire(request('INVITE')), ch);
    assert.ok(tx.ok);
    tx.value.reply(486);
    clock.advance(1000);
    assert.equal(ch.responses()[0].status, 486);
  });

  it('retransmits a non-2xx final with timer G (capped at T2) until the ACK, then lingers for timer I', () => {
    const { clock, layer } = setup();
    const ch = new FakeChannel();
    const u = serverUser();
    const invite = wire(request('INVITE'));
    const tx = layer.createServer(invite, ch, u.user);
    assert.ok(tx.ok);
    const res = tx.value.reply(404, { toTag: 'srv' });
    assert.ok(res);
    assert.equal(tx.value.state, 'completed');
    const at: number[] = [];
    for (let t = 0; t < 12_000; t += 50) {
      const before = ch.sent.length;
      clock.advance(50);
      if (ch.sent.length > before) at.push(clock.now());
    }
    assert.deepEqual(at, [500, 1500, 3500, 7500, 11500]);
    // the ACK the client transaction builds for it
    const ack = wire(
      (() => {
        const a = request('ACK', invite.topVia!.branch);
        a.setHeader('To', '<sip:bob@example.com>;tag=srv');
        return a;
      })(),
    );
    assert.equal(layer.receiveRequest(ack), tx.value);
    assert.equal(tx.value.state, 'confirmed');
    const n = ch.sent.length;
    clock.advance(4999);
    assert.equal(ch.sent.length, n, 'no more retransmissions');
    assert.equal(tx.value.state, 'confirmed');
    layer.receiveRequest(ack);
    assert.equal(u.acks.length, 0, 'the ACK of a non-2xx is absorbed');
    clock.advance(1);
    assert.equal(tx.value.state, 'terminated');
    assert.deepEqual(u.ended, ['normal']);
  });

  it('times out with timer H when no ACK comes', () => {
    const { clock, layer } = setup({ t1: 10 });
    const ch = new FakeChannel();
    const u = serverUser();
    const tx = layer.createServer(wire(request('INVITE')), ch, u.user);
    assert.ok(tx.ok);
    tx.value.reply(500);
    clock.advance(639);
    assert.equal(u.timeouts, 0);
    clock.advance(1);
    assert.equal(u.timeouts, 1);
    assert.deepEqual(u.ended, ['timeout']);
  });

  it('on 2xx enters Accepted: absorbs INVITE retransmissions, sends the TU 2xx retransmissions, passes the ACK up, ends after timer L', () => {
    const { clock, layer } = setup();
    const ch = new FakeChannel();
    const u = serverUser();
    const invite = wire(request('INVITE'));
    const tx = layer.createServer(invite, ch, u.user);
    assert.ok(tx.ok);
    const ok = tx.value.reply(200, { toTag: 'd' });
    assert.ok(ok);
    assert.equal(tx.value.state, 'accepted');
    // Accepted keeps neither the INVITE nor the 2xx
    assert.equal(tx.value.released, true);
    assert.equal(tx.value.lastResponse, undefined);
    assert.equal(tx.value.answered, true);
    assert.equal(tx.value.responseToTag, 'd');
    assert.deepEqual(tx.value.timers, ['L']);
    layer.receiveRequest(invite);
    assert.equal(ch.sent.length, 1, 'the INVITE retransmission is absorbed, the server transaction does not resend 2xx');
    assert.equal(tx.value.respond(ok), true, 'the TU retransmits the 2xx through it');
    assert.equal(ch.sent.length, 2);
    const ack = request('ACK', invite.topVia!.branch);
    assert.equal(layer.receiveRequest(wire(ack)), tx.value);
    assert.equal(u.acks.length, 1);
    assert.equal(tx.value.respond(createResponse(invite, 486)), false, 'no non-2xx after a 2xx');
    clock.advance(32_000);
    assert.equal(tx.value.state, 'terminated');
    assert.equal(layer.receiveRequest(wire(ack)), undefined, 'after timer L an ACK belongs to no transaction');
  });

  it('matches an RFC 2543 ACK for a 2xx to its INVITE in Accepted by the To tag the 2xx carried', () => {
    const { layer } = setup();
    const u = serverUser();
    const invite = wire(request('INVITE', 'old-style-branch'));
    const tx = layer.createServer(invite, new FakeChannel(), u.user);
    assert.ok(tx.ok);
    tx.value.reply(200, { toTag: 'd' });
    const ack = request('ACK', 'old-style-branch');
    ack.setHeader('to', '<sip:bob@example.com>;tag=d');
    assert.equal(layer.receiveRequest(wire(ack)), tx.value);
    assert.equal(u.acks.length, 1);
    const other = request('ACK', 'old-style-branch');
    other.setHeader('to', '<sip:bob@example.com>;tag=e');
    assert.equal(layer.receiveRequest(wire(other)), undefined);
  });

  it('matches a CANCEL to its INVITE by branch and sent-by', () => {
    const { layer } = setup();
    const ch = new FakeChannel();
    const invite = wire(request('INVITE'));
    const tx = layer.createServer(invite, ch);
    assert.ok(tx.ok);
    const cancel = wire(createCancel(invite));
    assert.equal(layer.receiveRequest(cancel), undefined, 'a CANCEL is its own transaction');
    assert.equal(layer.matchCancel(cancel), tx.value);
    assert.equal((tx.value as { cancelled?: boolean }).cancelled, true);
    const elsewhere = wire(createCancel(invite));
    elsewhere.removeTopVia();
    elsewhere.addVia(`SIP/2.0/UDP 198.51.100.9:5060;branch=${invite.topVia!.branch}`);
    assert.equal(layer.matchCancel(elsewhere), undefined, 'same branch from another sent-by does not match');
    assert.ok(layer.createServer(cancel, ch).ok);
  });
});

describe('non-INVITE server transaction', () => {
  it('absorbs retransmissions in Trying, answers them in Proceeding and Completed, and lingers for timer J over UDP', () => {
    const { clock, layer } = setup();
    const ch = new FakeChannel();
    const req = wire(request('REGISTER'));
    const tx = layer.createServer(req, ch);
    assert.ok(tx.ok);
    assert.equal(layer.receiveRequest(req), tx.value);
    assert.equal(ch.sent.length, 0);
    tx.value.reply(100);
    layer.receiveRequest(req);
    tx.value.reply(200);
    layer.receiveRequest(req);
    assert.deepEqual(
      ch.responses().map((r) => r.status),
      [100, 100, 200, 200],
    );
    assert.equal(tx.value.reply(200), undefined, 'one final response only');
    // completed over UDP it keeps only its response: the request is released, method and Call-ID stay
    assert.equal(tx.value.released, true);
    assert.equal(tx.value.method, 'REGISTER');
    assert.equal(tx.value.callId, req.callId);
    assert.throws(() => tx.value.request, /released/);
    clock.advance(31_999);
    assert.equal(layer.receiveRequest(req), tx.value);
    clock.advance(1);
    assert.equal(tx.value.state, 'terminated');
    assert.equal(layer.receiveRequest(req), undefined);
  });

  it('over a channel that encodes, keeps only the bytes of its final response, resends them, and ends after timer J', () => {
    const { clock, layer, ended } = setup();
    const ch = new EncodingChannel();
    const req = wire(request('REGISTER'));
    const tx = layer.createServer(req, ch);
    assert.ok(tx.ok);
    tx.value.reply(100);
    tx.value.reply(401);
    assert.equal(tx.value.answered, true);
    assert.equal(tx.value.lastResponse, undefined, 'the response itself is not kept');
    assert.equal(tx.value.released, true);
    assert.deepEqual(tx.value.timers, ['J']);
    clock.advance(10_000);
    assert.equal(layer.receiveRequest(req), tx.value);
    assert.deepEqual(
      ch.responses().map((r) => r.status),
      [100, 401, 401],
    );
    assert.equal(ch.encoded.length, 2);
    assert.deepEqual(ch.encoded[1], ch.encoded[0], 'the retransmission is the same bytes');
    assert.equal(tx.value.reply(200), undefined, 'one final response only');
    clock.advance(21_999);
    assert.equal(tx.value.state, 'completed');
    clock.advance(1);
    assert.equal(tx.value.state, 'terminated');
    assert.deepEqual(ended, [['non-invite-server', 'normal']]);
    assert.equal(layer.receiveRequest(req), undefined);
  });

  it('lingering transactions end in order under one timer, also when one was stopped early', () => {
    const { clock, layer, ended } = setup();
    const txs: ServerTransaction[] = [];
    for (let i = 0; i < 3; i++) {
      const tx = layer.createServer(wire(request('REGISTER', `z9hG4bK-linger-${i}`)), new EncodingChannel());
      assert.ok(tx.ok);
      tx.value.reply(200);
      txs.push(tx.value);
      clock.advance(1000);
    }
    txs[1].stop();
    assert.equal(clock.pending, 1, 'one timer for every lingering transaction');
    clock.advance(29_000); // 32 s after the first
    assert.deepEqual(
      txs.map((t) => t.state),
      ['terminated', 'terminated', 'completed'],
    );
    clock.advance(2000);
    assert.deepEqual(
      txs.map((t) => t.state),
      ['terminated', 'terminated', 'terminated'],
    );
    assert.deepEqual(
      ended.map(([, why]) => why),
      ['stopped', 'normal', 'normal'],
    );
    assert.equal(layer.serverCount, 0);
  });

  it('terminates at once over a reliable transport', () => {
    const { layer } = setup();
    const tx = layer.createServer(wire(request('REGISTER')), new FakeChannel(true));
    assert.ok(tx.ok);
    tx.value.reply(200);
    assert.equal(tx.value.state, 'terminated');
    assert.equal(tx.value.released, false, 'a terminated transaction over a reliable transport keeps its request');
    assert.equal(layer.serverCount, 0);
  });

  it('ends with a transport error when the response cannot be sent', () => {
    const { layer, ended } = setup();
    const ch = new FakeChannel();
    const tx = layer.createServer(wire(request('REGISTER')), ch);
    assert.ok(tx.ok);
    ch.fail = true;
    assert.equal(tx.value.reply(200), undefined);
    assert.deepEqual(ended, [['non-invite-server', 'transport-error']]);
  });
});

describe('server transaction keys', () => {
  it('gives a request that matched nothing its transaction under the key it was looked up by, and still refuses a duplicate', () => {
    const { layer } = setup();
    const ch = new FakeChannel();
    const req = wire(request('REGISTER', 'z9hG4bK-once'));
    assert.equal(layer.receiveRequest(req), undefined);
    const tx = layer.createServer(req, ch);
    assert.ok(tx.ok);
    assert.equal(layer.receiveRequest(wire(req)), tx.value, 'a retransmission (another parse of the same text) finds it');
    assert.equal(layer.serverTransaction(tx.value.key), tx.value);
    assert.deepEqual(layer.createServer(req, ch), { ok: false, error: 'duplicate' });

    // a request that matched nothing, then another with the same key got a transaction first
    const first = wire(request('OPTIONS', 'z9hG4bK-twice'));
    const second = wire(first);
    assert.equal(layer.receiveRequest(first), undefined);
    assert.ok(layer.createServer(second, ch).ok);
    assert.deepEqual(layer.createServer(first, ch), { ok: false, error: 'duplicate' });
    assert.equal(layer.serverCount, 2);
  });
});

describe('RFC 2543 matching (no magic cookie)', () => {
  function old(method: string, toTag?: string): SipRequest {
    const r = createRequest({
      method,
      uri: 'sip:bob@example.com',
      from: { uri: 'sip:alice@example.com', tag: 'f1' },
      to: { uri: 'sip:bob@example.com', ...(toTag ? { tag: toTag } : {}) },
      via: { transport: 'UDP', host: '192.0.2.7', port: 5060, branch: 'oldbranch1', rport: false },
      callId: 'old-call',
      cseq: 3,
    });
    return wire(r);
  }

  it('matches retransmissions by Request-URI, tags, Call-ID, CSeq and top Via', () => {
    const { layer } = setup();
    const ch = new FakeChannel();
    const tx = layer.createServer(old('INVITE'), ch);
    assert.ok(tx.ok);
    assert.equal(layer.receiveRequest(old('INVITE')), tx.value);
    const other = old('INVITE');
    other.setHeader('CSeq', '4 INVITE');
    assert.equal(layer.receiveRequest(wire(other)), undefined);
  });

  it('matches the ACK by the To tag of the response sent', () => {
    const { layer } = setup();
    const ch = new FakeChannel();
    const tx = layer.createServer(old('INVITE'), ch);
    assert.ok(tx.ok);
    tx.value.reply(486, { toTag: 'srv' });
    assert.equal(layer.receiveRequest(old('ACK', 'other')), undefined, 'an ACK with another To tag does not match');
    assert.equal(layer.receiveRequest(old('ACK', 'srv')), tx.value);
    assert.equal(tx.value.state, 'confirmed');
  });

  it('matches a CANCEL without a magic cookie', () => {
    const { layer } = setup();
    const ch = new FakeChannel();
    const tx = layer.createServer(old('INVITE'), ch);
    assert.ok(tx.ok);
    assert.equal(layer.matchCancel(old('CANCEL')), tx.value);
  });

  it('treats a bare magic cookie as no RFC 3261 branch (RFC 4475 3.2.1 badbranch)', () => {
    const { layer } = setup();
    const r = request('OPTIONS', 'z9hG4bK');
    const tx = layer.createServer(wire(r), new FakeChannel());
    assert.ok(tx.ok);
    assert.match(tx.value.key, /^2543\0/);
  });
});

describe('TransactionLayer.stop', () => {
  it('ends every transaction and clears every timer', () => {
    const { clock, layer, ended } = setup();
    const ch = new FakeChannel();
    layer.sendRequest(request('INVITE'), ch, clientUser().user);
    layer.sendRequest(request('OPTIONS'), ch, clientUser().user);
    layer.createServer(wire(request('INVITE')), ch);
    layer.stop();
    assert.equal(layer.clientCount + layer.serverCount, 0);
    assert.equal(ended.length, 3);
    assert.ok(ended.every(([, why]) => why === 'stopped'));
    assert.equal(clock.pending, 0);
  });
});
