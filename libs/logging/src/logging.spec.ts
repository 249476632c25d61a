import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Logging, prettyLine } from './logging';

function sink(): { out: Writable & { isTTY?: boolean }; lines: string[] } {
  const lines: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _e, cb) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  return { out, lines };
}

describe('logging', () => {
  it('filters by level and by excluded group, and both change at run time', async () => {
    const s = sink();
    const log = await Logging.create({ level: 'info', excludeGroups: ['stun'], console: 'json', out: s.out });
    log.group('sip').info('seen');
    log.group('sip').fine('hidden by level');
    log.group('stun').severe('hidden by group');
    log.configure('fine', []);
    log.group('sip').fine('now seen');
    log.group('stun').info('stun back');
    await log.close();
    const msgs = s.lines.map((l) => JSON.parse(l) as { msg: string; group: string; level: number });
    assert.deepEqual(msgs.map((m) => m.msg), ['seen', 'now seen', 'stun back']);
    assert.equal(msgs[1].level, 20);
    assert.equal(msgs[2].group, 'stun');
  });

  it('never writes secrets', async () => {
    const s = sink();
    const log = await Logging.create({ level: 'info', excludeGroups: [], console: 'json', out: s.out });
    log.group('auth').info({ password: 'hunter2', user: 'alice' }, 'login');
    await log.close();
    assert.ok(!s.lines.join('').includes('hunter2'));
    assert.ok(s.lines.join('').includes('alice'));
  });

  it('writes rotating files and lists them newest first', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'traverse-logs-'));
    try {
      const log = await Logging.create({ level: 'info', excludeGroups: [], console: 'off', file: { dir, maxSizeMb: 1, maxFiles: 3 } });
      const big = 'x'.repeat(2000);
      for (let burst = 0; burst < 3; burst++) {
        for (let i = 0; i < 500; i++) log.group('sip').info({ i: burst * 500 + i, big }, 'line');
        await new Promise((r) => setTimeout(r, 100));
      }
      await log.close();
      const files = log.files();
      assert.ok(files.length >= 2, `rotated into ${files.length} files`);
      assert.equal(files[0].index, 1);
      // Nothing lost across the rotation: every record is in exactly one file.
      const seen: number[] = [];
      for (const f of files) {
        const text = readFileSync(log.filePath(f.name)!, 'utf8').trim();
        if (text) for (const line of text.split('\n')) seen.push((JSON.parse(line) as { i: number }).i);
      }
      assert.deepEqual(seen.sort((a, b) => a - b), Array.from({ length: 1500 }, (_, i) => i));
      assert.equal(log.filePath('../etc/passwd'), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('prints a readable line for a person', () => {
    const line = prettyLine(JSON.stringify({ level: 40, time: Date.UTC(2026, 0, 1, 12, 0, 0), group: 'sip', msg: 'bad request', from: '1.2.3.4' }));
    assert.equal(line, '12:00:00.000 WARNING [sip] bad request  from=1.2.3.4\n');
  });
});
