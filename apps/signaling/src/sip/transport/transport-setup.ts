/**
 * Wiring of the SIP transport into the node: the TLS certificate of the TLS and WSS listeners
 * follows the configured files (tls.certFile, keyFile, caFile) while the node runs. New
 * connections get a new certificate, connections already up keep theirs, and files that do not
 * load leave the current certificate in place with a warning naming the file.
 */
import type { TraverseConfig } from '@traverse/config';
import type { GroupLogger } from '@traverse/logging';
import { CertificateWatcher } from '@traverse/net';
import type { SipTransport, TlsMaterial } from './sip-transport';

export function watchTlsCertificate(config: TraverseConfig, transport: SipTransport, log: GroupLogger, current: TlsMaterial): CertificateWatcher | undefined {
  const t = config.tls;
  if (!t.certFile || (config.sip.tlsPort === 0 && config.sip.wssPort === 0)) return undefined;
  const watcher = new CertificateWatcher(
    {
      files: { certFile: t.certFile, keyFile: t.keyFile, ...(t.caFile ? { caFile: t.caFile } : {}) },
      onChange: (c) => {
        try {
          transport.setTlsMaterial(c.material);
        } catch (e) {
          log.warning({ file: t.certFile, reason: (e as Error).message }, `TLS certificate not reloaded (${t.certFile}: ${(e as Error).message}); keeping the current certificate`);
          return;
        }
        log.info({ file: t.certFile, subject: c.subject, fingerprint: c.fingerprint, validTo: c.validTo.toISOString() }, 'TLS certificate reloaded: new SIP TLS and WSS connections get it');
      },
      onRefused: (file, reason) => log.warning({ file, reason }, `TLS certificate files changed but do not load (${file}: ${reason}); keeping the current certificate`),
    },
    current,
  );
  watcher.start();
  log.config({ certFile: t.certFile, keyFile: t.keyFile, ...(t.caFile ? { caFile: t.caFile } : {}) }, 'watching the TLS certificate files for changes');
  return watcher;
}
