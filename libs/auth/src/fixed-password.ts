/**
 * The fixed password of fixed authentication (auth.fixedPassword). When the configuration leaves it
 * empty, one is generated on first start into <dataDir>/secrets/fixed-password (mode 0600) and read
 * from there afterwards. The password itself is never logged; only where it is.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface FixedPassword {
  password: string;
  source: 'configured' | 'generated' | 'file';
  /** The file it lives in, when not configured. */
  path?: string;
}

export function loadFixedPassword(configured: string, dataDir: string): FixedPassword {
  if (configured !== '') return { password: configured, source: 'configured' };
  const dir = join(dataDir, 'secrets');
  const path = join(dir, 'fixed-password');
  if (existsSync(path)) {
    const password = readFileSync(path, 'utf8').trim();
    if (password !== '') return { password, source: 'file', path };
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // 128 bits, URL-safe so that it can be typed into an endpoint's settings
  const password = randomBytes(16).toString('base64url');
  writeFileSync(path, password + '\n', { mode: 0o600 });
  chmodSync(path, 0o600);
  return { password, source: 'generated', path };
}
