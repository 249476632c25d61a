// Starts a node exactly as the README says (./traverse start), waits for readiness,
// reads /api/status over HTTPS and stops it with SIGTERM: no orphan redis-server left.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { LOG_GROUPS } from '@traverse/config';
import { freePort, httpsGet, httpsRequest, pidAlive, repoRoot, runChild, waitFor, type ChildRun } from '@traverse/testing';

describe('a single node started with ./traverse start', () => {
  let dataDir: string;
  let port: number;
  let node: ChildRun;
  let ca: string;
  let redisPid: number;
  const base = () => `https://127.0.0.1:${port}`;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'traverse-e2e-node-'));
    port = await freePort();
    const sip = String(await freePort());
    node = runChild('./traverse', ['start'], {
      env: {
        TRAVERSE_NODE__DATA_DIR: dataDir,
        TRAVERSE_OAM__PORT: String(port),
        TRAVERSE_SIP__UDP_PORT: sip,
        TRAVERSE_SIP__TCP_PORT: sip,
        TRAVERSE_SIP__TLS_PORT: String(await freePort()),
        TRAVERSE_SIP__WS_PORT: String(await freePort()),
        TRAVERSE_SIP__WSS_PORT: String(await freePort()),
        TRAVERSE_NODE__NAME: 'e2e-node',
        TRAVERSE_LOG__CONSOLE: 'json',
      },
    });
    const certPath = join(dataDir, 'certs', 'oam-cert.pem');
    await waitFor('the O&M certificate', () => (existsSync(certPath) ? true : undefined), 60_000);
    ca = readFileSync(certPath, 'utf8');
    await waitFor(
      'readiness',
      async () => {
        const r = await httpsGet(`${base()}/health/ready`, ca);
        return r.status === 200 ? r : undefined;
      },
      60_000,
      200,
    );
    redisPid = Number(readFileSync(join(dataDir, 'redis', 'redis.pid'), 'utf8'));
  });

  after(async () => {
    if (node.child.exitCode === null) node.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('reports Redis connected on the health endpoint, over verified HTTPS', async () => {
    const r = await httpsGet(`${base()}/health/ready`, ca);
    assert.equal(r.status, 200);
    const body = JSON.parse(r.body) as { status: string; redis: string; node: string; roles: string[] };
    assert.equal(body.status, 'ready');
    assert.equal(body.redis, 'connected');
    assert.equal(body.node, 'e2e-node');
    assert.deepEqual(body.roles, ['signaling', 'media-engine']);
    assert.ok(pidAlive(redisPid), 'the embedded redis-server runs');
  });

  it('answers /api/status with the Server Status fields from real state', async () => {
    const r = await httpsGet(`${base()}/api/status`, ca);
    assert.equal(r.status, 200);
    const s = JSON.parse(r.body) as Record<string, unknown>;
    const pkg = JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as { version: string };
    assert.equal(s.proxyServerVersion, pkg.version);
    assert.equal(s.mediaEngineVersion, pkg.version, 'the media engine of this node is active');
    assert.equal(s.publicAddress, '');
    // a single node is the master of its own cluster; with no public address it is named by its host name
    assert.equal(s.masterServerAddress, hostname());
    assert.match(String(s.runningTime), /^\d{2,}:\d{2}:\d{2}$/);
    const started = Date.parse(String(s.startupTime));
    const now = Date.parse(String(s.currentTime));
    assert.ok(started <= now && now - Date.now() < 5000 && Date.now() - now < 5000);
    // the media engine of this process announced itself to the cluster
    assert.deepEqual(s.mediaEngines, { configured: 1, connected: 1 });
    assert.equal(s.connectedClients, 0);
    assert.equal(s.localCurrentCalls, 0);
    assert.equal(s.globalCurrentCalls, 0);
    const publicCert = new X509Certificate(readFileSync(join(dataDir, 'certs', 'public-cert.pem')));
    assert.equal(s.publicCertificateExpiry, new Date(publicCert.validTo).toISOString());
  });

  it('serves an OpenAPI document and Prometheus metrics', async () => {
    const doc = JSON.parse((await httpsGet(`${base()}/api/openapi.json`, ca)).body) as { openapi: string; paths: Record<string, unknown> };
    assert.match(doc.openapi, /^3\./);
    assert.ok(doc.paths['/api/status'] && doc.paths['/health/ready'] && doc.paths['/metrics']);
    const m = await httpsGet(`${base()}/metrics`, ca);
    assert.match(m.body, /^traverse_redis_up\{node="e2e-node"\} 1$/m);
    assert.match(m.body, /^traverse_current_calls\{node="e2e-node"\} 0$/m);
  });

  it('writes its log to a rotating file in the data folder', () => {
    const logs = readFileSync(join(dataDir, 'logs', 'traverse.1.log'), 'utf8').trim().split('\n');
    const ready = logs.map((l) => JSON.parse(l) as { msg: string; node: string }).find((l) => l.msg === 'traverse ready');
    assert.ok(ready, 'a "traverse ready" record');
    assert.equal(ready.node, 'e2e-node');
  });

  it('changes the log level at run time and serves the log files on the Logging API', async () => {
    const put = await httpsRequest(`${base()}/api/logging`, ca, 'PUT', { level: 'fine', excludeGroups: ['stun'] });
    assert.equal(put.status, 200, put.body);
    assert.deepEqual(JSON.parse(put.body), { level: 'fine', excludeGroups: ['stun'], groups: [...LOG_GROUPS] });
    const bad = await httpsRequest(`${base()}/api/logging`, ca, 'PUT', { level: 'loud' });
    assert.equal(bad.status, 400);
    assert.match(bad.body, /level/);
    assert.equal((JSON.parse((await httpsGet(`${base()}/api/logging`, ca)).body) as { level: string }).level, 'fine');
    const files = JSON.parse((await httpsGet(`${base()}/api/logs`, ca)).body) as Array<{ name: string; index: number }>;
    assert.equal(files[0].index, 1);
    const file = await httpsGet(`${base()}/api/logs/${files[0].name}`, ca);
    assert.equal(file.status, 200);
    assert.match(file.body, /"msg":"log settings changed"/);
    assert.equal((await httpsGet(`${base()}/api/logs/..%2Fredis%2Fredis.pid`, ca)).status, 404);
  });

  it('stops cleanly on SIGTERM and leaves no redis-server behind', async () => {
    node.child.kill('SIGTERM');
    const code = await node.exited;
    assert.equal(code, 0, node.stderr());
    await waitFor('redis-server to exit', () => (pidAlive(redisPid) ? undefined : true), 10_000);
    assert.equal(existsSync(join(dataDir, 'redis', 'redis.pid')), false);
    assert.match(node.stdout(), /"msg":"traverse stopped"/);
  });
});

describe('a node with invalid configuration', () => {
  it('refuses to start with one clear line naming the key and the problem', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'traverse-e2e-bad-'));
    try {
      const run = runChild('./traverse', ['start'], { env: { TRAVERSE_NODE__DATA_DIR: dataDir, TRAVERSE_SIP__UDP_PORT: 'abc' } });
      assert.equal(await run.exited, 2);
      assert.equal(run.stderr().trim().split('\n').at(-1), 'traverse: invalid configuration: sip.udpPort (from TRAVERSE_SIP__UDP_PORT): expected number, got "abc"');
      assert.equal(existsSync(join(dataDir, 'redis', 'redis.pid')), false, 'nothing was started');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
