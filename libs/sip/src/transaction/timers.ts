/**
 * Timer values of RFC 3261 section 17 (table 4) and the scheduler the transactions run their
 * timers on. Transactions never call setTimeout themselves: a Scheduler is injected, so tests
 * drive them with a ManualScheduler (a fake clock) and production uses SystemScheduler.
 */

export interface TransactionTimerValues {
  /** RTT estimate (default 500 ms). Timers A, B, E, F, G, H, J, L, M derive from it. */
  t1: number;
  /** Longest retransmit interval for non-INVITE requests and INVITE responses (default 4 s). */
  t2: number;
  /** Longest time a message stays in the network (default 5 s): timers I and K. */
  t4: number;
  /**
   * How long an INVITE server transaction waits for its TU's first response before it sends
   * 100 Trying itself (RFC 3261 17.2.1: within 200 ms). 0 sends it at once.
   */
  trying: number;
}

export const DEFAULT_TIMER_VALUES: Readonly<TransactionTimerValues> = Object.freeze({ t1: 500, t2: 4000, t4: 5000, trying: 200 });

/** An opaque handle of a scheduled timer. */
export type TimerRef = object;

export interface Scheduler {
  /** Current time in ms. */
  now(): number;
  /** Runs fn once after ms milliseconds. */
  set(ms: number, fn: () => void): TimerRef;
  /** Cancels a timer (no effect when it already ran or was cleared). */
  clear(ref: TimerRef): void;
}

/** setTimeout-based scheduler; timers are unref'd so they never keep a process alive. */
export class SystemScheduler implements Scheduler {
  now(): number {
    return Date.now();
  }
  set(ms: number, fn: () => void): TimerRef {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  }
  clear(ref: TimerRef): void {
    clearTimeout(ref as ReturnType<typeof setTimeout>);
  }
}

/** What waits in a LingerQueue. */
export interface LingerQueueEntry {
  /** The wait due at `at` is over (the entry checks that it still waits for it). */
  lingerExpired(at: number): void;
}

/**
 * Waits of one fixed duration, in the order they started (so in the order they fall due), under
 * one scheduler timer: transactions lingering in Completed (timers D, I, J, K) need no timer,
 * closures and timer map of their own. An entry whose transaction ended early stays queued until
 * its time and is then ignored (lingerExpired checks that the wait is still current).
 */
export class LingerQueue {
  private entries: (LingerQueueEntry | undefined)[] = [];
  private dues: number[] = [];
  private head = 0;
  private timer: TimerRef | undefined;

  constructor(
    private readonly scheduler: Scheduler,
    readonly ms: number,
  ) {}

  get size(): number {
    return this.entries.length - this.head;
  }

  /** Queues an entry; returns the scheduler time it is due. */
  add(entry: LingerQueueEntry): number {
    const at = this.scheduler.now() + this.ms;
    this.entries.push(entry);
    this.dues.push(at);
    if (this.timer === undefined) this.arm();
    return at;
  }

  /** Drops every entry and the timer (the layer stopping). */
  clear(): void {
    if (this.timer !== undefined) this.scheduler.clear(this.timer);
    this.timer = undefined;
    this.entries = [];
    this.dues = [];
    this.head = 0;
  }

  private arm(): void {
    this.timer = this.scheduler.set(Math.max(0, this.dues[this.head] - this.scheduler.now()), () => this.fire());
  }

  private fire(): void {
    this.timer = undefined;
    const now = this.scheduler.now();
    const entries = this.entries;
    const dues = this.dues;
    while (this.head < entries.length && dues[this.head] <= now) {
      const e = entries[this.head]!;
      entries[this.head] = undefined;
      this.head++;
      e.lingerExpired(dues[this.head - 1]);
    }
    if (this.head === entries.length) {
      this.entries = [];
      this.dues = [];
      this.head = 0;
      return;
    }
    if (this.head >= 1024 && this.head * 2 >= entries.length) {
      this.entries = entries.slice(this.head);
      this.dues = dues.slice(this.head);
      this.head = 0;
    }
    this.arm();
  }
}

interface ManualTimer {
  at: number;
  seq: number;
  fn: () => void;
  cleared: boolean;
}

/** A fake clock: time moves only when advance() is called; due timers run in order. */
export class ManualScheduler implements Scheduler {
  private time: number;
  private seq = 0;
  private timers: ManualTimer[] = [];

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  set(ms: number, fn: () => void): TimerRef {
    const t: ManualTimer = { at: this.time + Math.max(0, ms), seq: this.seq++, fn, cleared: false };
    this.timers.push(t);
    return t;
  }

  clear(ref: TimerRef): void {
    (ref as ManualTimer).cleared = true;
  }

  /** Timers scheduled and not yet run or cleared. */
  get pending(): number {
    return this.timers.filter((t) => !t.cleared).length;
  }

  /** Moves time forward by ms, running every timer that falls due (including ones set by those timers). */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let next: ManualTimer | undefined;
      for (const t of this.timers) if (!t.cleared && t.at <= end && (next === undefined || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      if (next === undefined) break;
      this.time = next.at;
      next.cleared = true;
      next.fn();
    }
    this.timers = this.timers.filter((t) => !t.cleared);
    this.time = end;
  }
}
