import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createHash } from 'node:crypto';

export interface RedisServerOptions {
  /** Folder for the data files (RDB/AOF), the pid file and, when it fits, the socket. */
  dir: string;
  /** Listen on this loopback TCP port instead of (or besides) a unix socket. 0 = no TCP. */
  port?: number;
  /** Append-only persistence (default true). */
  persistence?: boolean;
  /** redis-server binary (default: found on PATH or /usr/bin). */
  binary?: string;
  /** Install Debian's redis-server with apt-get when the binary is missing (default true). */
  install?: boolean;
  /** Extra redis-server arguments, e.g. ['--cluster-enabled', 'yes']. */
  extraArgs?: string[];
  /** How long to wait for the server to accept connections (ms). */
  startTimeoutMs?: number;
  /** Receives the server's own log lines. */
  onLog?: (line: string) => void;
}

export interface RunningRedisServer {
  readonly pid: number;
  /** Unix socket path, when listening on one. */
  readonly socketPath: string | undefined;
  readonly port: number;
  /** A redis:// or unix URL ioredis understands. */
  readonly url: string;
  stop(): Promise<void>;
}

export class RedisServerError extends Error {
  constructor(
    readonly code: 'REDIS_BINARY_MISSING' | 'REDIS_INSTALL_FAILED' | 'REDIS_START_FAILED' | 'REDIS_START_TIMEOUT',
    message: string,
  ) {
    super(message);
    this.name = 'RedisServerError';
  }
}

function which(cmd: string): string | undefined {
  if (cmd.includes('/')) return existsSync(cmd) ? cmd : undefined;
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/bin', '/usr/sbin', '/usr/local/bin']);
  for (const d of dirs) {
    const p = join(d, cmd);
    if (d && existsSync(p)) return p;
  }
  return undefined;
}

/** Finds redis-server, installing Debian's package when allowed and missing. */
export function ensureRedisServerBinary(binary = 'redis-server', install = true): string {
  const found = which(binary);
  if (found) return found;
  if (!install) {
    throw new RedisServerError('REDIS_BINARY_MISSING', `${binary} not found: install Debian's redis-server (apt-get install redis-server) or configure redis.url`);
  }
  const asRoot = process.getuid?.() === 0;
  const apt = (args: string[]) =>
    asRoot ? spawnSync('apt-get', args, { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }) : spawnSync('sudo', ['-n', 'apt-get', ...args], { stdio: 'ignore' });
  let r = apt(['install', '-y', '-q', 'redis-server']);
  if (r.status !== 0) {
    apt(['update', '-q']);
    r = apt(['install', '-y', '-q', 'redis-server']);
  }
  const after = which(binary);
  if (r.status !== 0 || !after) {
    throw new RedisServerError(
      'REDIS_INSTALL_FAILED',
      `${binary} not found and 'apt-get install redis-server' failed${asRoot ? '' : ' (not root and no passwordless sudo)'}: install it, or configure redis.url`,
    );
  }
  return after;
}

let deathSignalWrapper: string | null | undefined;

/**
 * util-linux's setpriv when it can set a parent-death signal (Debian always has util-linux):
 * redis-server is started through it, so that it stops, saving its data, when the process that
 * started it dies without stopping it (killed, crashed). The signal comes when the thread that
 * started it ends: start it from the main thread. Without setpriv, a later start from the same
 * folder stops what was left running (the pid file).
 */
function parentDeathWrapper(): string | undefined {
  if (deathSignalWrapper === undefined) {
    const setpriv = which('setpriv');
    const help = setpriv === undefined ? undefined : spawnSync(setpriv, ['--help'], { encoding: 'utf8' });
    deathSignalWrapper = setpriv !== undefined && help?.status === 0 && help.stdout.includes('--pdeathsig') ? setpriv : null;
  }
  return deathSignalWrapper ?? undefined;
}

function socketPathFor(dir: string): string {
  const inDir = join(dir, 'redis.sock');
  if (Buffer.byteLength(inDir) < 100) return inDir;
  // Unix socket paths are limited to ~107 bytes: fall back to a short, stable path.
  const h = createHash('sha1').update(dir).digest('hex').slice(0, 12);
  return join(tmpdir(), `traverse-redis-${h}.sock`);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function isRedisProcess(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('redis-server');
  } catch {
    return false;
  }
}

async function waitForExit(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!pidAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return !pidAlive(pid);
}

/** Stops a redis-server left behind by an earlier run that died without stopping it. */
async function stopStale(pidFile: string): Promise<void> {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (Number.isInteger(pid) && pid > 0 && pidAlive(pid) && isRedisProcess(pid)) {
    process.kill(pid, 'SIGTERM');
    if (!(await waitForExit(pid, 10_000))) process.kill(pid, 'SIGKILL');
  }
  rmSync(pidFile, { force: true });
}

function ping(target: { path: string } | { port: number; host: string }): Promise<boolean> {
  return new Promise((resolvePing) => {
    const s = createConnection(target as never);
    let buf = '';
    const done = (ok: boolean) => {
      s.destroy();
      resolvePing(ok);
    };
    s.setTimeout(500, () => done(false));
    s.on('error', () => done(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

/**
 * Starts a private redis-server as a child process and resolves when it answers PING.
 * The pid is written to <dir>/redis.pid so that a later start can clean up after a crash.
 */
export async function startRedisServer(opts: RedisServerOptions): Promise<RunningRedisServer> {
  const dir = resolve(opts.dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const binary = ensureRedisServerBinary(opts.binary ?? 'redis-server', opts.install ?? true);
  const pidFile = join(dir, 'redis.pid');
  await stopStale(pidFile);
  const port = opts.port ?? 0;
  const socketPath = port === 0 ? socketPathFor(dir) : undefined;
  if (socketPath) rmSync(socketPath, { force: true });
  const persistence = opts.persistence ?? true;
  const args = [
    '--dir', dir,
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--protected-mode', 'yes',
    '--daemonize', 'no',
    '--save', persistence ? '3600 1 300 100 60 10000' : '',
    '--appendonly', persistence ? 'yes' : 'no',
    '--appendfsync', 'everysec',
    '--dbfilename', 'redis.rdb',
    '--logfile', '',
    ...(socketPath ? ['--unixsocket', socketPath, '--unixsocketperm', '700'] : []),
    ...(opts.extraArgs ?? []),
  ];
  let child: ChildProcess;
  try {
    const wrapper = parentDeathWrapper();
    child = wrapper
      ? spawn(wrapper, ['--pdeathsig', 'TERM', '--', binary, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: false })
      : spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: false });
  } catch (e) {
    throw new RedisServerError('REDIS_START_FAILED', `could not start ${binary}: ${(e as Error).message}`);
  }
  const tail: string[] = [];
  const onLine = (d: Buffer) => {
    for (const line of d.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      tail.push(line);
      if (tail.length > 20) tail.shift();
      opts.onLog?.(line);
    }
  };
  child.stdout?.on('data', onLine);
  child.stderr?.on('data', onLine);
  let exited = false;
  let exitCode: number | null = null;
  const exitedPromise = new Promise<void>((r) =>
    child.once('exit', (code) => {
      exited = true;
      exitCode = code;
      r();
    }),
  );
  const pid = child.pid;
  if (pid === undefined) throw new RedisServerError('REDIS_START_FAILED', `could not start ${binary}`);
  writeFileSync(pidFile, String(pid));

  const target = socketPath ? { path: socketPath } : { port, host: '127.0.0.1' };
  const deadline = Date.now() + (opts.startTimeoutMs ?? 15_000);
  for (;;) {
    if (exited) {
      rmSync(pidFile, { force: true });
      throw new RedisServerError('REDIS_START_FAILED', `redis-server exited with code ${exitCode} at start: ${tail.slice(-3).join(' | ')}`);
    }
    if (await ping(target)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      rmSync(pidFile, { force: true });
      throw new RedisServerError('REDIS_START_TIMEOUT', `redis-server did not answer within ${opts.startTimeoutMs ?? 15_000} ms: ${tail.slice(-3).join(' | ')}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }

  let stopping: Promise<void> | undefined;
  return {
    pid,
    socketPath,
    port,
    url: socketPath ? `unix://${socketPath}` : `redis://127.0.0.1:${port}`,
    stop() {
      stopping ??= (async () => {
        if (!exited) {
          child.kill('SIGTERM'); // redis-server saves and exits on SIGTERM
          const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
          await exitedPromise;
          clearTimeout(t);
        }
        rmSync(pidFile, { force: true });
        if (socketPath) rmSync(socketPath, { force: true });
      })();
      return stopping;
    },
  };
}
