import pino, { type Logger, type DestinationStream } from 'pino';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import roll from 'pino-roll';

/** The levels of the O&M Logging page, most severe first. */
export const LEVEL_VALUES = { severe: 50, warning: 40, info: 30, config: 25, fine: 20, finer: 15, finest: 10 } as const;
export type Level = keyof typeof LEVEL_VALUES;
export type LevelSetting = Level | 'off';

export interface LoggingOptions {
  level: LevelSetting;
  excludeGroups: readonly string[];
  console: 'auto' | 'pretty' | 'json' | 'off';
  /** Rotating JSON files; undefined: none. */
  file?: { dir: string; maxSizeMb: number; maxFiles: number };
  /** Fields on every line (e.g. node name). */
  base?: Record<string, unknown>;
  /** Console destination (default process.stdout). */
  out?: NodeJS.WritableStream & { isTTY?: boolean };
}

export type GroupLogger = Logger<Level>;

export interface LogFile {
  name: string;
  size: number;
  modified: string;
  /** 1 = newest, as on the O&M Logging page. */
  index: number;
}

const LEVEL_NAMES: Record<number, string> = Object.fromEntries(Object.entries(LEVEL_VALUES).map(([k, v]) => [v, k]));

/** One human line per record: time, level, group, message, then the other fields. */
export function prettyLine(json: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const { time, level, group, msg, pid: _pid, hostname: _h, node: _n, ...rest } = rec;
  const t = typeof time === 'number' ? new Date(time).toISOString().slice(11, 23) : '';
  const lv = (LEVEL_NAMES[level as number] ?? String(level)).toUpperCase().padEnd(7);
  const extra = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${t} ${lv} [${typeof group === 'string' ? group : '-'}] ${typeof msg === 'string' ? msg : JSON.stringify(msg ?? '')}${extra ? '  ' + extra : ''}\n`;
}

class PrettyStream {
  constructor(private readonly out: NodeJS.WritableStream) {}
  write(chunk: string): boolean {
    return this.out.write(prettyLine(chunk.trimEnd()));
  }
}

/**
 * Structured logging for a node: levels and groups of the seed's Logging page,
 * console output for a person or a collector, rotating JSON files that the O&M
 * interface lists and serves. Level and excluded groups change at run time.
 */
export class Logging {
  readonly root: Logger<Level>;
  private readonly groups = new Map<string, GroupLogger>();
  private level: LevelSetting;
  private excluded: Set<string>;
  private readonly fileDir: string | undefined;
  private readonly closers: Array<() => Promise<void>> = [];

  private constructor(root: Logger<Level>, opts: LoggingOptions, closers: Array<() => Promise<void>>) {
    this.root = root;
    this.level = opts.level;
    this.excluded = new Set(opts.excludeGroups);
    this.fileDir = opts.file ? resolve(opts.file.dir) : undefined;
    this.closers = closers;
  }

  static async create(opts: LoggingOptions): Promise<Logging> {
    const streams: Array<{ level: number; stream: DestinationStream }> = [];
    const closers: Array<() => Promise<void>> = [];
    const out = opts.out ?? process.stdout;
    const consoleMode = opts.console === 'auto' ? (out.isTTY ? 'pretty' : 'json') : opts.console;
    if (consoleMode === 'pretty') streams.push({ level: 10, stream: new PrettyStream(out) });
    else if (consoleMode === 'json') streams.push({ level: 10, stream: out });
    if (opts.file) {
      mkdirSync(opts.file.dir, { recursive: true });
      const stream = await roll({
        file: join(resolve(opts.file.dir), 'traverse'),
        extension: '.log',
        size: `${opts.file.maxSizeMb}m`,
        limit: { count: opts.file.maxFiles },
        mkdir: true,
      });
      streams.push({ level: 10, stream });
      closers.push(
        () =>
          new Promise<void>((r) => {
            try {
              stream.flushSync?.();
            } catch {
              /* nothing buffered */
            }
            stream.once('close', () => r());
            stream.once('finish', () => r());
            stream.end();
            setTimeout(r, 1000).unref();
          }),
      );
    }
    const root = pino<Level>(
      {
        customLevels: LEVEL_VALUES,
        useOnlyCustomLevels: true,
        level: opts.level === 'off' ? 'silent' : opts.level,
        base: { ...(opts.base ?? {}) },
        timestamp: pino.stdTimeFunctions.epochTime,
        redact: { paths: ['password', '*.password', 'secret', '*.secret', 'token', '*.token', 'authorization', '*.authorization'], censor: '********' },
      },
      pino.multistream(streams.length ? streams : [{ level: 10, stream: { write: () => undefined } }], { levels: LEVEL_VALUES }),
    );
    return new Logging(root, opts, closers);
  }

  /** The logger of one log group (sip, registrar, stun, ...). */
  group(name: string): GroupLogger {
    let g = this.groups.get(name);
    if (!g) {
      g = this.root.child({ group: name });
      g.level = this.effectiveLevel(name);
      this.groups.set(name, g);
    }
    return g;
  }

  private effectiveLevel(group: string): string {
    return this.level === 'off' || this.excluded.has(group) ? 'silent' : this.level;
  }

  get settings(): { level: LevelSetting; excludeGroups: string[] } {
    return { level: this.level, excludeGroups: [...this.excluded] };
  }

  /** Changes the level and the excluded groups at run time. */
  configure(level: LevelSetting, excludeGroups: readonly string[]): void {
    this.level = level;
    this.excluded = new Set(excludeGroups);
    this.root.level = level === 'off' ? 'silent' : level;
    for (const [name, g] of this.groups) g.level = this.effectiveLevel(name);
  }

  /** The log files, newest first. */
  files(): LogFile[] {
    if (!this.fileDir) return [];
    let names: string[];
    try {
      names = readdirSync(this.fileDir).filter((n) => /^traverse\.(\d+)\.log$/.test(n));
    } catch {
      return [];
    }
    return names
      .map((name) => {
        const st = statSync(join(this.fileDir!, name));
        return { name, size: st.size, mtime: st.mtimeMs, n: Number(/\.(\d+)\.log$/.exec(name)![1]) };
      })
      .sort((a, b) => b.n - a.n)
      .map((f, i) => ({ name: f.name, size: f.size, modified: new Date(f.mtime).toISOString(), index: i + 1 }));
  }

  /** Full path of a log file by name, or undefined when it is not one of ours. */
  filePath(name: string): string | undefined {
    if (!this.fileDir || !this.files().some((f) => f.name === name)) return undefined;
    return join(this.fileDir, name);
  }

  async close(): Promise<void> {
    for (const c of this.closers) await c();
  }
}
