// A node started with ./traverse start and its SIP certificate in configured files (tls.certFile,
// tls.keyFile): replacing the files gives new TLS and WSS connections the new certificate while a
// SIP connection made before keeps working; broken files keep the current certificate and the
// log names the file.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { waitFor } from '@traverse/testing';
import { loadOrCreateCertificate, type CertificatePair } from '@traverse/runtime';
import { TlsSipClient, startSipNode, type SipNode } from './helpers';

const DOMAIN = 'example.com';

function replace(path: string, text: string): void {
  writeFileSync(path + '.new', text);
  renameSync(path + '.new', path);
}

const fingerprintOf = (pem: string) => new X509Certificate(pem).fingerprint256;

function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.destroy();
      resolve(fp);
    });
    s.once('error', reject);
  });
}

describe('the SIP certificate of a node follows its files', () => {
  let n: SipNode;
  let dir: string;
  let a: CertificatePair;
  let b: CertificatePair;
  let certFile: string;
  let keyFile: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'traverse-e2e-certs-'));
    a = await loadOrCreateCertificate({ name: 'a', dataDir: dir, certFile: '', keyFile: '' });
    b = await loadOrCreateCertificate({ name: 'b', dataDir: dir, certFile: '', keyFile: '' });
    certFile = join(dir, 'sip-cert.pem');
    keyFile = join(dir, 'sip-key.pem');
    writeFileSync(certFile, a.cert);
    writeFileSync(keyFile, a.key);
    n = await startSipNode({ TRAVERSE_REGISTRAR__DOMAINS: DOMAIN, TRAVERSE_TLS__CERT_FILE: certFile, TRAVERSE_TLS__KEY_FILE: keyFile });
  });

  after(async () => {
    if (n) await n.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the configured certificate on TLS and WSS', async () => {
    assert.equal(await servedFingerprint(n.tlsPort), fingerprintOf(a.cert));
    assert.equal(await servedFingerprint(n.wssPort), fingerprintOf(a.cert));
  });

  it('gives new connections the replaced certificate; a connection made before keeps carrying SIP', async () => {
    const c = await TlsSipClient.connect(n.tlsPort, a.cert);
    try {
      replace(certFile, b.cert);
      replace(keyFile, b.key);
      await waitFor('the new certificate on TLS', async () => ((await servedFingerprint(n.tlsPort)) === fingerprintOf(b.cert) ? true : undefined), 20_000, 100);
      assert.equal(await servedFingerprint(n.wssPort), fingerprintOf(b.cert));
      assert.match(n.node.stdout(), /TLS certificate reloaded/);

      c.send(
        [
          `REGISTER sip:${DOMAIN} SIP/2.0`,
          `Via: SIP/2.0/TLS 127.0.0.1:${c.localPort};branch=z9hG4bK-reload-1;rport`,
          `From: <sip:old@${DOMAIN}>;tag=1`,
          `To: <sip:old@${DOMAIN}>`,
          'Call-ID: reload-1',
          'CSeq: 1 REGISTER',
          `Contact: <sip:old@127.0.0.1:${c.localPort};transport=tls>`,
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n'),
      );
      const res = await c.next();
      assert.equal(res.status, 401, 'the registrar answers on the connection made with the old certificate');
    } finally {
      c.close();
    }
    // a client trusting only the new certificate connects
    const fresh = await TlsSipClient.connect(n.tlsPort, b.cert);
    fresh.close();
  });

  it('keeps the current certificate when the new files are broken, naming the file in a warning', async () => {
    replace(certFile, 'this is not a certificate\n');
    const line = await waitFor(
      'the warning',
      () => n.node.stdout().split('\n').find((l) => l.includes('"level":40') && l.includes('do not load') && l.includes(certFile)),
      20_000,
      100,
    );
    assert.match(line, /not a PEM certificate/);
    assert.equal(await servedFingerprint(n.tlsPort), fingerprintOf(b.cert));
    assert.equal(await servedFingerprint(n.wssPort), fingerprintOf(b.cert));
  });
});
