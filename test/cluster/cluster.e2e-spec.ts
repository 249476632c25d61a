// Three cluster members as separate processes on one redis-server: registrations from all of
// them, then the master is killed with SIGKILL. No registration may be lost and a new master
// must take over within the lease time; the killed node restarts and rebuilds everything.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedisServer, type RunningRedisServer } from '@traverse/redis';

interface NodeState {
  name: string;
  registrations: number;
  isMaster: boolean;
  master?: string;
  servers: [string, string][];
  digest: string;
}

class Member {
  private seq = 0;
  private readonly waiting = new Map<number, (m: { result?: unknown; error?: string }) => void>();
  readonly ready: Promise<number>;
  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    this.ready = new Promise((resolve, reject) => {
      child.on('message', (m: { ready?: boolean; startMs?: number; id?: number; result?: unknown; error?: string }) => {
        if (m.ready) resolve(m.startMs!);
        else if (m.id !== undefined) this.waiting.get(m.id)?.(m);
      });
      child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
    });
  }
  call<T>(cmd: Record<string, unknown>): Promise<T> {
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (m) => {
        this.waiting.delete(id);
        if (m.error) reject(new Error(m.error));
        else resolve(m.result as T);
      });
      this.child.send({ id, ...cmd });
    });
  }
  state(): Promise<NodeState> {
    return this.call<NodeState>({ cmd: 'state' });
  }
}

const LEASE_MS = 1500;

describe('three cluster members in three processes', { timeout: 120_000 }, () => {
  let dir: string;
  let redis: RunningRedisServer;
  const prefix = `e2e${process.pid}`;
  const members: Member[] = [];
  const spawn = (name: string) => {
    const child = fork(join(__dirname, 'node-runner.js'), [name, redis.url, prefix, String(LEASE_MS)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const m = new Member(name, child);
    members.push(m);
    return m;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'traverse-cluster-e2e-'));
    redis = await startRedisServer({ dir, persistence: true });
  });
  after(async () => {
    for (const m of members) if (m.child.exitCode === null && m.child.signalCode === null) m.child.kill('SIGKILL');
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loses no registration and elects a new master within the lease time when the master is killed -9', async () => {
    const [a, b, c] = [spawn('node-a'), spawn('node-b'), spawn('node-c')];
    await Promise.all([a.ready, b.ready, c.ready]);
    const all = [a, b, c];
    // 3 x 2000 registrations, each node appending its own.
    await Promise.all(all.map((m, i) => m.call({ cmd: 'register', from: i * 2000, count: 2000 })));
    let states: NodeState[] = [];
    const deadline = Date.now() + 10_000;
    for (;;) {
      states = await Promise.all(all.map((m) => m.state()));
      if (
        states.every((s) => s.registrations === 6000 && s.master) &&
        states.filter((s) => s.isMaster).length === 1 &&
        new Set(states.map((s) => s.digest)).size === 1
      )
        break;
      assert.ok(Date.now() < deadline, `no convergence: ${JSON.stringify(states.map((s) => [s.name, s.registrations, s.isMaster]))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const digest = states[0].digest;
    const master = all.find((_m, i) => states[i].isMaster)!;
    const rest = all.filter((m) => m !== master);

    const killedAt = Date.now();
    master.child.kill('SIGKILL');
    let newMaster: string | undefined;
    while (!newMaster) {
      const ss = await Promise.all(rest.map((m) => m.state()));
      newMaster = ss.find((s) => s.isMaster)?.name;
      if (!newMaster) {
        assert.ok(Date.now() - killedAt < LEASE_MS * 3, 'no new master');
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    const took = Date.now() - killedAt;
    console.log(`# new master ${newMaster} ${took} ms after SIGKILL of ${master.name} (lease ${LEASE_MS} ms)`);
    assert.ok(took <= LEASE_MS + 300, `failover took ${took} ms, lease is ${LEASE_MS} ms`);

    // No registration lost on the survivors; the Servers table shows the dead node down.
    for (const m of rest) {
      const s = await m.state();
      assert.equal(s.registrations, 6000);
      assert.equal(s.digest, digest);
    }
    const downDeadline = Date.now() + 5000;
    for (;;) {
      const s = await rest[0].state();
      if (s.servers.some(([n, st]) => n === master.name && st === 'down')) break;
      assert.ok(Date.now() < downDeadline, 'killed node never shown down');
      await new Promise((r) => setTimeout(r, 50));
    }

    // More registrations after the failover, then the killed node restarts and rebuilds all of it.
    await rest[0].call({ cmd: 'register', from: 10_000, count: 500 });
    const again = spawn(master.name);
    const startMs = await again.ready;
    const s = await again.state();
    assert.equal(s.registrations, 6500);
    console.log(`# ${master.name} restarted and rebuilt 6500 registrations in ${startMs} ms`);
    for (const m of [...rest, again]) await m.call({ cmd: 'stop' });
  });
});
