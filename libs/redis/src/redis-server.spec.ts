import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pidAlive } from '@traverse/testing';
import { startRedisServer } from './redis-server';
import { createRedisClient, redisOptionsFromUrl } from './connection';

describe('embedded redis-server', () => {
  it('starts on a unix socket with persistence, serves, and leaves nothing behind on stop', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'traverse-redis-test-'));
    try {
      const server = await startRedisServer({ dir });
      assert.ok(server.socketPath && existsSync(server.socketPath));
      assert.equal(readFileSync(join(dir, 'redis.pid'), 'utf8'), String(server.pid));
      const client = createRedisClient({ mode: 'embedded', url: server.url });
      await client.connect();
      await client.set('k', 'v');
      assert.equal(await client.get('k'), 'v');
      assert.equal(await client.config('GET', 'appendonly').then((r) => (r)[1]), 'yes');
      await client.quit();
      await server.stop();
      assert.throws(() => process.kill(server.pid, 0));
      assert.equal(existsSync(join(dir, 'redis.pid')), false);
      // Data survives a restart from the same folder.
      const again = await startRedisServer({ dir });
      const c2 = createRedisClient({ mode: 'embedded', url: again.url });
      await c2.connect();
      assert.equal(await c2.get('k'), 'v');
      await c2.quit();
      await again.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops a server left running by a crashed earlier start before starting anew', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'traverse-redis-test-'));
    try {
      const first = await startRedisServer({ dir });
      // Simulate the owner dying: start again without stopping the first.
      const second = await startRedisServer({ dir });
      assert.notEqual(first.pid, second.pid);
      assert.throws(() => process.kill(first.pid, 0));
      await second.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('stops, when the process that started it is killed without stopping it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'traverse-redis-test-'));
    let pid: number | undefined;
    try {
      // an owner process that starts the server, says its pid, and then is killed
      const owner = spawn(process.execPath, ['-e', `require(${JSON.stringify(join(__dirname, 'redis-server.js'))}).startRedisServer({ dir: ${JSON.stringify(dir)} }).then((s) => console.log('pid ' + s.pid))`], { stdio: ['ignore', 'pipe', 'inherit'] });
      pid = await new Promise<number>((resolvePid, reject) => {
        let out = '';
        owner.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /pid (\d+)/.exec(out);
          if (m) resolvePid(Number(m[1]));
        });
        owner.once('exit', (code) => reject(new Error(`the owner exited (${code}) before the server was up`)));
      });
      assert.ok(pidAlive(pid));
      assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /redis-server/);
      owner.kill('SIGKILL');
      const deadline = Date.now() + 15_000;
      while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal(pidAlive(pid), false, 'redis-server still runs after its owner was killed');
    } finally {
      if (pid !== undefined && pidAlive(pid)) process.kill(pid, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('redis urls', () => {
  it('parses unix, redis and rediss forms', () => {
    assert.deepEqual(redisOptionsFromUrl('unix:///tmp/r.sock'), { path: '/tmp/r.sock' });
    assert.deepEqual(redisOptionsFromUrl('redis://:s%40cret@10.0.0.1:6380/2'), { host: '10.0.0.1', port: 6380, db: 2, password: 's@cret' });
    assert.equal(redisOptionsFromUrl('rediss://[::1]').host, '::1');
    assert.throws(() => redisOptionsFromUrl('http://x'), /must start with redis/);
  });
});
