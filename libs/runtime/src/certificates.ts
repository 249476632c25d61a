import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';

export interface CertificatePair {
  cert: string;
  key: string;
  ca?: string;
  /** Where it came from: the configured files, or generated into the data folder. */
  source: 'configured' | 'generated';
  certPath: string;
  validFrom: Date;
  validTo: Date;
  subject: string;
}

function describe(cert: string): { validFrom: Date; validTo: Date; subject: string } {
  const x = new X509Certificate(cert);
  return { validFrom: new Date(x.validFrom), validTo: new Date(x.validTo), subject: x.subject.replace(/\n/g, ', ') };
}

/**
 * Loads the configured certificate and key, or (when none is configured) a
 * self-signed pair kept in <dataDir>/certs/<name>-{cert,key}.pem, generating it
 * on first start. Throws with a message naming the file on unreadable input.
 */
export async function loadOrCreateCertificate(opts: {
  name: string;
  dataDir: string;
  certFile: string;
  keyFile: string;
  caFile?: string;
  commonName?: string;
  altNames?: string[];
}): Promise<CertificatePair> {
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      throw new Error(`${what} ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (e as Error).message}`, { cause: e });
    }
  };
  const ca = opts.caFile ? read(opts.caFile, 'CA file') : undefined;
  if (opts.certFile) {
    const cert = read(opts.certFile, 'certificate file');
    const key = read(opts.keyFile, 'key file');
    let d;
    try {
      d = describe(cert);
    } catch (e) {
      throw new Error(`certificate file ${opts.certFile}: not a PEM certificate (${(e as Error).message})`, { cause: e });
    }
    return { cert, key, ...(ca ? { ca } : {}), source: 'configured', certPath: opts.certFile, ...d };
  }
  const dir = join(opts.dataDir, 'certs');
  const certPath = join(dir, `${opts.name}-cert.pem`);
  const keyPath = join(dir, `${opts.name}-key.pem`);
  if (!existsSync(certPath) || !existsSync(keyPath)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const cn = opts.commonName ?? hostname();
    const names = [...new Set([cn, 'localhost', ...(opts.altNames ?? [])])];
    const now = new Date();
    const pems = await generate([{ name: 'commonName', value: cn }, { name: 'organizationName', value: 'traverse' }], {
      keySize: 2048,
      algorithm: 'sha256',
      notBeforeDate: new Date(now.getTime() - 60_000),
      notAfterDate: new Date(now.getTime() + 825 * 86_400_000),
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
        { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
        {
          name: 'subjectAltName',
          altNames: [
            ...names.map((value) => ({ type: 2, value })),
            { type: 7, ip: '127.0.0.1' },
            { type: 7, ip: '::1' },
          ],
        },
      ],
    } as never);
    writeFileSync(keyPath, pems.private, { mode: 0o600 });
    writeFileSync(certPath, pems.cert, { mode: 0o644 });
  }
  const cert = readFileSync(certPath, 'utf8');
  const key = readFileSync(keyPath, 'utf8');
  return { cert, key, ...(ca ? { ca } : {}), source: 'generated', certPath, ...describe(cert) };
}
