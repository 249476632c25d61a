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
