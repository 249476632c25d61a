import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The repository root (where the product's package.json is). */
export function repoRoot(): string {
  if (process.env.TRAVERSE_ROOT) return process.env.TRAVERSE_ROOT;
  let dir = __dirname;
  for (let i = 0; i < 10; i++) {
    const p = join(dir, 'package.json');
    if (existsSync(p) && (JSON.parse(readFileSync(p, 'utf8')) as { name?: string }).name === 'traverse') return dir;
    dir = dirname(dir);
  }
  throw new Error('repository root not found');
}

export interface ChildRun {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
}

/** Spawns a command, collecting its output; the environment is added to this process's. */
export function runChild(cmd: string, args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): ChildRun {
  const child = spawn(cmd, args, { cwd: opts.cwd ?? repoRoot(), env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, sig) => resolve(code ?? sig ?? 'unknown')));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** True while a process with this pid exists. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
