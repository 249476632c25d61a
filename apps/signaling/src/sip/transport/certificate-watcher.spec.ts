// The TLS certificate follows its files: real certificate files in a temporary folder replaced the
// way certificate managers do (a new file renamed over the old one), a real TLS listener of the
// SIP transport and real TLS clients reading the certificate they are served.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { createRequest, createResponse, SipStreamParser, type SipMessage, type SipRequest } from '@traverse/sip';
import { freePort, waitFor } from '@traverse/testing';
import { loadOrCreateCertificate, type CertificatePair } from '@traverse/runtime';
import { CertificateWatcher, loadCertificateFiles, type LoadedCertificate } from '@traverse/net';
import { SipTransport, type SipSource } from './sip-transport';


/** Replaces a file atomically, as certificate managers do. */
function replace(path: string, text: string): void {
  writeFileSync(path + '.new', text);
  renameSync(path + '.new', path);
}

function fingerprintOf(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/** The fingerprint of the certificate a new TLS connection is served. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.destroy();
      resolve(fp);
    });
    s.once('error', reject);
  });
}

describe('CertificateWatcher and the TLS listener', () => {
  let dir: string;
  let a: CertificatePair;
  let b: CertificatePair;
  let c: CertificatePair;
  let certFile: string;
  let keyFile: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'traverse-certs-'));
    a = await loadOrCreateCertificate({ name: 'a', dataDir: join(dir, 'gen'), certFile: '', keyFile: '' });
    b = await loadOrCreateCertificate({ name: 'b', dataDir: join(dir, 'gen'), certFile: '', keyFile: '' });
    c = await loadOrCreateCertificate({ name: 'c', dataDir: join(dir, 'gen'), certFile: '', keyFile: '' });
    certFile = join(dir, 'cert.pem');
    keyFile = join(dir, 'key.pem');
    writeFileSync(certFile, a.cert);
    writeFileSync(keyFile, a.key);
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('loads a good set and names the file at fault in a bad one', () => {
    const ok = loadCertificateFiles({ certFile, keyFile });
    assert.ok(ok.ok);
    assert.equal(ok.value.fingerprint, fingerprintOf(a.cert));
    const missing = loadCertificateFiles({ certFile: join(dir, 'nope.pem'), keyFile });
    assert.ok(!missing.ok && missing.file === join(dir, 'nope.pem') && missing.reason === 'not found');
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a certificate');
    const bad = loadCertificateFiles({ certFile: garbage, keyFile });
    assert.ok(!bad.ok && bad.file === garbage);
    assert.match(bad.ok ? '' : bad.reason, /not a PEM certificate/);
    const otherKey = join(dir, 'other-key.pem');
    writeFileSync(otherKey, b.key);
    const mismatch = loadCertificateFiles({ certFile, keyFile: otherKey });
    assert.ok(!mismatch.ok && mismatch.file === otherKey);
    assert.match(mismatch.ok ? '' : mismatch.reason, /does not belong to the certificate/);
  });

  it('serves a replaced certificate to new connections, keeps running ones, and keeps the old one when the new files are broken', async () => {
    const received: Array<{ msg: SipMessage; source: SipSource }> = [];
    const t = new SipTransport({
      udpPort: 0,
      tcpPort: 0,
      tlsPort: await freePort(),
      hosts: ['127.0.0.1'],
      tls: { cert: a.cert, key: a.key },
      maxUdpPacketSize: 1300,
      idleTimeoutMs: 60_000,
      onMessage: (msg, source) => received.push({ msg, source }),
    });
    await t.start();
    const port = t.listeners[0].port;
    const changes: LoadedCertificate[] = [];
    const refused: Array<{ file: string; reason: string }> = [];
    const w = new CertificateWatcher(
      {
        files: { certFile, keyFile },
        debounceMs: 100,
        onChange: (ch) => {
          t.setTlsMaterial(ch.material);
          changes.push(ch);
        },
        onRefused: (file, reason) => refused.push({ file, reason }),
      },
      { cert: a.cert, key: a.key },
    );
    w.start();
    // a connection made with certificate A
    const old = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    await new Promise<void>((r) => old.once('secureConnect', () => r()));
    assert.equal(old.getPeerCertificate().fingerprint256, fingerprintOf(a.cert));
    try {
      assert.equal(await servedFingerprint(port), fingerprintOf(a.cert));

      replace(certFile, b.cert);
      replace(keyFile, b.key);
      await waitFor('the new certificate', () => (changes.length > 0 ? true : undefined));
      assert.equal(changes.at(-1)!.fingerprint, fingerprintOf(b.cert));
      assert.equal(await servedFingerprint(port), fingerprintOf(b.cert));

      // the connection made before the change still carries SIP
      const parser = new SipStreamParser();
      const got: SipMessage[] = [];
      old.on('data', (d: Buffer) => got.push(...parser.push(d).flatMap((ev) => (ev.kind === 'message' ? [ev.value] : []))));
      old.write(createRequest({ method: 'OPTIONS', uri: 'sip:example.com', from: { uri: 'sip:a@example.com' }, to: { uri: 'sip:example.com' }, via: { transport: 'TLS', host: '127.0.0.1', port: old.localPort! } }).toBuffer());
      const { msg, source } = await waitFor('the request on the old connection', () => received[0]);
      t.respond(createResponse(msg as SipRequest, 200), source);
      const res = await waitFor('the response on the old connection', () => got[0]);
      assert.ok(res.kind === 'response' && res.status === 200);

      // a broken certificate file: refused with the file named, B still served
      replace(certFile, 'garbage');
      await waitFor('the refusal', () => (refused.length > 0 ? true : undefined));
      assert.equal(refused[0].file, certFile);
      assert.equal(await servedFingerprint(port), fingerprintOf(b.cert));

      // a key that does not match the certificate: refused, naming the key file
      refused.length = 0;
      replace(certFile, c.cert);
      await waitFor('the second refusal', () => refused.find((r) => r.file === keyFile));
      assert.equal(await servedFingerprint(port), fingerprintOf(b.cert));
      // then its key arrives: C is taken
      replace(keyFile, c.key);
      await waitFor('certificate C', () => (changes.at(-1)?.fingerprint === fingerprintOf(c.cert) ? true : undefined));
      assert.equal(await servedFingerprint(port), fingerprintOf(c.cert));
    } finally {
      old.destroy();
      w.stop();
      await t.stop();
    }
  });

  it('refuses material whose key does not match in setTlsMaterial, changing nothing', async () => {
    const t = new SipTransport({ udpPort: 0, tcpPort: 0, tlsPort: await freePort(), hosts: ['127.0.0.1'], tls: { cert: a.cert, key: a.key }, maxUdpPacketSize: 1300, idleTimeoutMs: 60_000, onMessage: () => undefined });
    await t.start();
    try {
      assert.throws(() => t.setTlsMaterial({ cert: b.cert, key: a.key }));
      assert.equal(await servedFingerprint(t.listeners[0].port), fingerprintOf(a.cert));
    } finally {
      await t.stop();
    }
  });
});
