import { configLeaves } from '@traverse/config';
import { freePort } from './net';

/**
 * Environment that gives every port of the configuration (every key whose name holds `port` /
 * `Port`: `port`, `udpPort`, `portOne`, whatever features add later) a free loopback port, so a node started by a
 * test collides neither with another test's node nor with a server already on the machine.
 * Port ranges (`...PortMin` / `...PortMax`) are left alone. `keep` names keys not to touch.
 */
const handedOut = new Set<number>();

/** A free port not handed out before by this process (the OS may offer a just-closed one again). */
async function uniqueFreePort(): Promise<number> {
  for (;;) {
    const p = await freePort();
    if (!handedOut.has(p)) {
      handedOut.add(p);
      return p;
    }
  }
}

export async function isolatedPortsEnv(keep: readonly string[] = []): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  for (const leaf of configLeaves()) {
    const name = leaf.path.slice(leaf.path.lastIndexOf('.') + 1);
    if (!/port/i.test(name) || /Port(Min|Max)$/.test(name) || leaf.kind !== 'integer' || keep.includes(leaf.path)) continue;
    env[leaf.env] = String(await uniqueFreePort());
  }
  return env;
}
