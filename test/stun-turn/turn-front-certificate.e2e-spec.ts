/**
 * The TLS certificate of the TURN front and of the media engine's TURN server follows its files
 * (tls.certFile, tls.keyFile) while the node runs, as the SIP TLS listeners' does: a node started with ./traverse start serves the new
 * certificate to new TURN TLS connections once the files are replaced (a new file renamed over
 * the old one, as certificate managers do), and keeps the current one, with a warning naming the
 * file, when the new files do not load. A real TLS client reads the certificate it is served, and
 * a STUN Binding over that TLS connection is answered.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { Attr, StunClass, StunMethod, attributeValue, decodeMessage, encodeMessage, newTransactionId } from '@traverse/stun';
import { loadOrCreateCertificate, type CertificatePair } from '@traverse/runtime';
import { waitFor } from '@traverse/testing';
import { freePorts, startTraverseNode, type TraverseNode } from './helpers';

/** Replaces a file atomically, as certificate managers do. */
function replace(path: string, text: string): void {
  writeFileSync(path + '.new', text);
  renameSync(path + '.new', path);
}

/** Connects over TLS, sends a STUN Binding request; resolves with the served certificate's fingerprint and the answer's class. */
function tlsBinding(port: number): Promise<{ fingerprint: string; answered: boolean }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const fingerprint = s.getPeerCertificate().fingerprint256;
      const tid = newTransactionId();
      s.write(encodeMessage({ method: StunMethod.Binding, cls: StunClass.Request, transactionId: tid }, []));
      let buf = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length < 20 || buf.length < 20 + buf.readUInt16BE(2)) return;
        const m = decodeMessage(buf.subarray(0, 20 + buf.readUInt16BE(2)));
        s.destroy();
        resolve({
          fingerprint,
          answered:
            m.ok && m.value.cls === StunClass.SuccessResponse && attributeValue(m.value, Attr.XorMappedAddress)?.address === '127.0.0.1',
        });
      });
    });
    s.setTimeout(5000, () => {
      s.destroy();
      reject(new Error('no STUN answer over TLS within 5 s'));
    });
    s.once('error', reject);
  });
}

const variants = [
  {
    title: 'TURN front TLS certificate reload',
    what: 'TURN',
    env: (port: number, tlsPort: number): Record<string, string> => ({
      TRAVERSE_NODE__ROLES: 'signaling',
      TRAVERSE_STUN__ENABLED: 'false',
      TRAVERSE_TURN__ADDRESS: '127.0.0.1',
      TRAVERSE_TURN__PORT: String(port),
      TRAVERSE_TURN__TLS_PORT: String(tlsPort),
    }),
  },
  {
    title: 'media engine TURN TLS certificate reload',
    what: 'TURN (media engine)',
    env: (port: number, tlsPort: number, more: number[]): Record<string, string> => ({
      TRAVERSE_NODE__ROLES: 'media-engine',
      // the secondary STUN server and the control port on free ports too (the suites run side by side)
      TRAVERSE_STUN__PORT_ONE: String(more[0]),
      TRAVERSE_STUN__PORT_TWO: String(more[1]),
      TRAVERSE_STUN__MEDIA_ENGINE_PORT: String(more[2]),
      TRAVERSE_MEDIA_ENGINE__CONTROL_PORT: String(more[3]),
      TRAVERSE_MEDIA_ENGINE__ADDRESS: '127.0.0.1',
      TRAVERSE_MEDIA_ENGINE__RELAY_PORT_MIN: '40500',
      TRAVERSE_MEDIA_ENGINE__RELAY_PORT_MAX: '40599',
      TRAVERSE_TURN__MEDIA_ENGINE_PORT: String(port),
      TRAVERSE_TURN__MEDIA_ENGINE_TLS_PORT: String(tlsPort),
    }),
  },
];

for (const v of variants)
  describe(v.title, () => {
    let dir: string;
    let node: TraverseNode;
    let a: CertificatePair;
    let b: CertificatePair;
    let certFile: string;
    let keyFile: string;
    let tlsPort = 0;
    const fp = (pem: string) => new X509Certificate(pem).fingerprint256;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'traverse-turn-certs-'));
      a = await loadOrCreateCertificate({ name: 'a', dataDir: join(dir, 'gen'), certFile: '', keyFile: '' });
      b = await loadOrCreateCertificate({ name: 'b', dataDir: join(dir, 'gen'), certFile: '', keyFile: '' });
      certFile = join(dir, 'cert.pem');
      keyFile = join(dir, 'key.pem');
      writeFileSync(certFile, a.cert);
      writeFileSync(keyFile, a.key);
      const [turnPort, turnTls, ...more] = await freePorts(6);
      tlsPort = turnTls;
      node = await startTraverseNode({
        TRAVERSE_NODE__NAME: 'e2e-turn-certs',
        ...v.env(turnPort, turnTls, more),
        TRAVERSE_TLS__CERT_FILE: certFile,
        TRAVERSE_TLS__KEY_FILE: keyFile,
      });
    });

    after(async () => {
      await node?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('serves the configured certificate on its TLS port', async () => {
      const r = await tlsBinding(tlsPort);
      assert.equal(r.fingerprint, fp(a.cert));
      assert.ok(r.answered, 'STUN Binding over TLS answered with the reflexive address');
    });

    it('serves the new certificate to new connections once the files are replaced', async () => {
      replace(keyFile, b.key);
      replace(certFile, b.cert);
      await waitFor(
        'the new certificate served',
        async () => ((await tlsBinding(tlsPort)).fingerprint === fp(b.cert) ? true : undefined),
        10_000,
        200,
      );
      assert.ok(node.logs().some((l) => String(l.msg).startsWith(`${v.what} TLS certificate reloaded`) && l.fingerprint === fp(b.cert)));
      assert.ok((await tlsBinding(tlsPort)).answered);
    });

    it('keeps the current certificate, with a warning naming the file, when the new files do not load', async () => {
      replace(certFile, 'not a certificate\n');
      await waitFor(
        'the refusal logged',
        () =>
          node
            .logs()
            .some((l) => String(l.msg).startsWith(`${v.what} TLS certificate files changed but do not load`) && l.file === certFile)
            ? true
            : undefined,
        10_000,
        100,
      );
      const r = await tlsBinding(tlsPort);
      assert.equal(r.fingerprint, fp(b.cert), 'the previous certificate is still served');
      assert.ok(r.answered);
      // a key that does not belong to the certificate is refused too
      replace(certFile, a.cert);
      replace(keyFile, b.key);
      await waitFor(
        'the mismatch logged',
        () =>
          node.logs().some((l) => String(l.msg).startsWith(`${v.what} TLS certificate files changed but do not load`) && l.file === keyFile)
            ? true
            : undefined,
        10_000,
        100,
      );
      assert.equal((await tlsBinding(tlsPort)).fingerprint, fp(b.cert));
    });
  });
