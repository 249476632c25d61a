import { Inject, Injectable } from '@nestjs/common';
import { NODE_CONTEXT, type NodeContext } from './node-context';

export type RedisHealth = 'connected' | 'disconnected';

/** Readiness: Redis answers and every registered check (listeners bound, ...) passes. */
@Injectable()
export class Readiness {
  private readonly checks = new Map<string, () => boolean>();
  private draining = false;

  constructor(@Inject(NODE_CONTEXT) private readonly ctx: NodeContext) {}

  /** A role registers a named check, e.g. 'sip-listeners'. */
  register(name: string, check: () => boolean): void {
    this.checks.set(name, check);
  }

  /** Called when a graceful stop begins: the node stops being ready at once. */
  startDraining(): void {
    this.draining = true;
  }

  async redisHealth(): Promise<RedisHealth> {
    try {
      const pong = await Promise.race([this.ctx.redis.ping(), new Promise<string>((r) => setTimeout(() => r('timeout'), 1000).unref())]);
      return pong === 'PONG' ? 'connected' : 'disconnected';
    } catch {
      return 'disconnected';
    }
  }

  async check(): Promise<{ ready: boolean; redis: RedisHealth; checks: Record<string, boolean> }> {
    const redis = await this.redisHealth();
    const checks: Record<string, boolean> = { accepting: !this.draining };
    for (const [name, c] of this.checks) checks[name] = c();
    const ready = redis === 'connected' && Object.values(checks).every(Boolean);
    return { ready, redis, checks };
  }
}
