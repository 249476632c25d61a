/**
 * Watches a listener's certificate, key and CA files (tls.certFile, keyFile, caFile) and hands
 * a new, checked set to its owner when they change: the folders are watched (a certificate
 * manager usually replaces a file by renaming a new one over it), changes are debounced (the
 * certificate and the key are written one after the other), and a set that does not load (a file
 * missing or unreadable, not PEM, a key that does not match the certificate) is refused with the
 * file named, so the owner keeps serving the previous certificate.
 */
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import tls from 'node:tls';

/** A TLS listener's certificate, private key and optional CA chain, PEM. */
export interface CertificateMaterial {
  cert: string;
  key: string;
  ca?: string;
}

export interface CertificateFiles {
  certFile: string;
  keyFile: string;
  caFile?: string;
}

export interface LoadedCertificate {
  material: CertificateMaterial;
  /** SHA-256 fingerprint of the certificate (colon-separated hex, as X509Certificate gives it). */
  fingerprint: string;
  subject: string;
  validTo: Date;
}

export type CertificateLoad = { ok: true; value: LoadedCertificate } | { ok: false; file: string; reason: string };

/** Reads and checks a certificate set; the error names the file at fault. */
export function loadCertificateFiles(files: CertificateFiles): CertificateLoad {
  const read = (file: string): { ok: true; text: string } | { ok: false; file: string; reason: string } => {
    try {
      return { ok: true, text: readFileSync(file, 'utf8') };
    } catch (e) {
      return { ok: false, file, reason: (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (e as Error).message };
    }
  };
  const cert = read(files.certFile);
  if (!cert.ok) return cert;
  const key = read(files.keyFile);
  if (!key.ok) return key;
  const ca = files.caFile ? read(files.caFile) : undefined;
  if (ca !== undefined && !ca.ok) return ca;
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert.text);
  } catch (e) {
    return { ok: false, file: files.certFile, reason: `not a PEM certificate (${(e as Error).message})` };
  }
  try {
    if (!x509.checkPrivateKey(createPrivateKey(key.text))) return { ok: false, file: files.keyFile, reason: `the key does not belong to the certificate in ${files.certFile}` };
  } catch (e) {
    return { ok: false, file: files.keyFile, reason: `not a PEM private key (${(e as Error).message})` };
  }
  const material: CertificateMaterial = { cert: cert.text, key: key.text, ...(ca?.ok ? { ca: ca.text } : {}) };
  try {
    tls.createSecureContext({ cert: material.cert, key: material.key, ...(material.ca ? { ca: material.ca } : {}) });
  } catch (e) {
    return { ok: false, file: material.ca ? files.caFile! : files.certFile, reason: (e as Error).message };
  }
  return { ok: true, value: { material, fingerprint: x509.fingerprint256, subject: x509.subject.replace(/\n/g, ', '), validTo: new Date(x509.validTo) } };
}

export interface CertificateWatcherOptions {
  files: CertificateFiles;
  /** A new certificate set loaded and checked. */
  onChange: (c: LoadedCertificate) => void;
  /** The files changed but do not load: the current certificate stays. */
  onRefused: (file: string, reason: string) => void;
  /** Quiet time after the last change before reloading (default 500 ms). */
  debounceMs?: number;
}

export class CertificateWatcher {
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private last: string;

  /** `current`: the set in use when watching starts (a reload to the same content is no change). */
  constructor(
    private readonly o: CertificateWatcherOptions,
    current?: CertificateMaterial,
  ) {
    this.last = current ? this.digest(current) : '';
  }

  private digest(m: CertificateMaterial): string {
    return createHash('sha256').update(m.cert).update('\0').update(m.key).update('\0').update(m.ca ?? '').digest('hex');
  }

  start(): void {
    const files = [this.o.files.certFile, this.o.files.keyFile, this.o.files.caFile].filter((f): f is string => !!f).map((f) => resolve(f));
    const byDir = new Map<string, Set<string>>();
    for (const f of files) {
      const d = dirname(f);
      if (!byDir.has(d)) byDir.set(d, new Set());
      byDir.get(d)!.add(basename(f));
    }
    for (const [dir, names] of byDir) {
      const w = watch(dir, { persistent: false }, (_event, name) => {
        if (name === null || names.has(name.toString())) this.schedule();
      });
      w.on('error', () => undefined);
      this.watchers.push(w);
    }
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.reload(), this.o.debounceMs ?? 500);
    this.timer.unref();
  }

  /** Loads the files now; tells the owner of a new set or of a refusal. Returns whether a new set was taken. */
  reload(): boolean {
    this.timer = undefined;
    const r = loadCertificateFiles(this.o.files);
    if (!r.ok) {
      this.o.onRefused(r.file, r.reason);
      return false;
    }
    const d = this.digest(r.value.material);
    if (d === this.last) return false;
    this.last = d;
    this.o.onChange(r.value);
    return true;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const w of this.watchers) w.close();
    this.watchers = [];
  }
}

/** The log lines a certificate reload writes (a node's logger group fits). */
export interface CertificateReloadLog {
  info(fields: Record<string, unknown>, msg: string): void;
  warning(fields: Record<string, unknown>, msg: string): void;
}

/**
 * Watches certificate files for TLS listeners named `what` (e.g. "TURN front"): a new set that
 * loads is handed to `apply` (which may throw to refuse it, e.g. setSecureContext rejecting the
 * key), and files that do not load leave the current certificate in place with a warning.
 */
export function watchTlsCertificate(o: {
  what: string;
  files: CertificateFiles;
  current: CertificateMaterial;
  apply: (m: CertificateMaterial) => void;
  log: CertificateReloadLog;
  debounceMs?: number;
}): CertificateWatcher {
  const watcher = new CertificateWatcher(
    {
      files: o.files,
      ...(o.debounceMs !== undefined ? { debounceMs: o.debounceMs } : {}),
      onChange: (c) => {
        try {
          o.apply(c.material);
        } catch (e) {
          const reason = (e as Error).message;
          o.log.warning({ file: o.files.certFile, reason }, `${o.what} TLS certificate not reloaded (${o.files.certFile}: ${reason}); keeping the current certificate`);
          return;
        }
        o.log.info(
          { file: o.files.certFile, subject: c.subject, fingerprint: c.fingerprint, validTo: c.validTo.toISOString() },
          `${o.what} TLS certificate reloaded: new ${o.what} TLS connections get it`,
        );
      },
      onRefused: (file, reason) =>
        o.log.warning({ file, reason }, `${o.what} TLS certificate files changed but do not load (${file}: ${reason}); keeping the current certificate`),
    },
    o.current,
  );
  watcher.start();
  return watcher;
}
