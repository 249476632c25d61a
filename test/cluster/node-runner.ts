// A cluster member in its own process, driven over IPC by cluster.e2e-spec.ts (three of these share
// one redis-server; the test kills one with SIGKILL). Stands in for the signaling app until the
// runtime wires ClusterModule itself.
import { createHash } from 'node:crypto';
import { ClusterNode, RegistrationAdded, type ContactBindingData } from '@traverse/cluster';

type Command = { id: number; cmd: 'register'; from: number; count: number } | { id: number; cmd: 'state' } | { id: number; cmd: 'stop' };

const [, , name, url, prefix, leaseMs] = process.argv;
const node = new ClusterNode({
  nodeName: name,
  address: `${name}.e2e.test`,
  redis: { mode: 'standalone', url: url },
  prefix: prefix,
  shards: 8,
  leaseMs: Number(leaseMs),
  heartbeatMs: 250,
  logger: { warn: () => undefined, error: (m) => process.stderr.write(`${name}: ${m}\n`) },
});

function binding(i: number): ContactBindingData {
  return {
    aor: `sip:user${i}@e2e.test`,
    contact: `sip:user${i}@203.0.113.${i % 250}:5060`,
    expiresAt: Date.now() + 3_600_000,
    q: 1,
    node: name,
    flow: `udp:${i}`,
    callId: `c${i}`,
    cseq: 1,
  };
}

function digest(): string {
  const rows = [...node.location.all()].map((b) => `${b.aor}|${b.key}|${b.lastEvent}`).sort();
  return createHash('sha1').update(rows.join('\n')).digest('hex');
}

async function handle(m: Command): Promise<unknown> {
  switch (m.cmd) {
    case 'register': {
      const rs = await node.publishAll(Array.from({ length: m.count }, (_, k) => new RegistrationAdded(binding(m.from + k))));
      await Promise.all(rs.map((r) => node.waitFor(r)));
      return { appended: rs.length };
    }
    case 'state':
      return {
        name,
        registrations: node.location.size,
        isMaster: node.isMaster,
        master: node.election.master?.name,
        servers: node.membership.table.map((s) => [s.name, s.status]),
        digest: digest(),
      };
    case 'stop':
      await node.stop();
      setImmediate(() => process.exit(0));
      return { stopped: true };
  }
}

process.on('message', (m: Command) => {
  handle(m).then(
    (result) => process.send?.({ id: m.id, result }),
    (e: unknown) => process.send?.({ id: m.id, error: String(e) }),
  );
});

const t0 = Date.now();
node.start().then(
  () => process.send?.({ ready: true, startMs: Date.now() - t0 }),
  (e: unknown) => {
    process.stderr.write(`${name}: start failed: ${String(e)}\n`);
    process.exit(1);
  },
);
