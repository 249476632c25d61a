import 'reflect-metadata';
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { CqrsModule, EventBus, EventsHandler, type IEventHandler } from '@nestjs/cqrs';
import { RegistrationAdded, type ContactBindingData } from '../cluster-events';
import { ClusterNode } from '../cluster-node';
import { LocationService } from '../read-models/location-service';
import { standaloneRedis, uniquePrefix, waitUntil, type RedisFixture } from '../spec-support';
import { ClusterModule } from './cluster.module';
import { QueueModule, QueueRegistry } from './queue.module';

const seen: { node: string; aor: string; id: string | undefined }[] = [];

class LocalOnly {
  constructor(readonly n: number) {}
}
const local: number[] = [];

function appModule(redis: RedisFixture, prefix: string, name: string, roles: string[]) {
  @EventsHandler(RegistrationAdded)
  class OnRegistration implements IEventHandler<InstanceType<typeof RegistrationAdded>> {
    handle(e: InstanceType<typeof RegistrationAdded>): void {
      seen.push({ node: name, aor: e.data.aor, id: e.meta?.id });
    }
  }
  @EventsHandler(LocalOnly)
  class OnLocal implements IEventHandler<LocalOnly> {
    handle(e: LocalOnly): void {
      local.push(e.n);
    }
  }
  @Injectable()
  class Registrar {
    constructor(
      readonly bus: EventBus,
      readonly location: LocationService,
    ) {}
  }
  @Module({
    imports: [
      CqrsModule.forRoot(),
      ClusterModule.forRootAsync({
        useFactory: () => ({
          nodeName: name,
          address: `${name}.example.net`,
          redis: redis.connect,
          prefix,
          shards: 4,
          leaseMs: 1000,
          heartbeatMs: 200,
          logger: { warn: () => undefined, error: () => undefined },
        }),
      }),
      QueueModule.forRoot({
        roles,
        connection: redis.options,
        prefix: `{${prefix}-q}`,
        queues: [{ name: 'mail', workers: ['master-duties'], attempts: 3, backoffMs: 10 }],
      }),
    ],
    providers: [OnRegistration, OnLocal, Registrar],
  })
  class AppModule {}
  return { AppModule, Registrar };
}

const binding = (aor: string): ContactBindingData => ({
  aor,
  contact: `${aor};ob`,
  expiresAt: Date.now() + 60_000,
  q: 1,
  node: 'x',
  callId: 'c',
  cseq: 1,
});

describe('ClusterModule and QueueModule in Nest apps', { timeout: 60_000 }, () => {
  let redis: RedisFixture;
  before(async () => {
    redis = await standaloneRedis();
  });
  after(async () => {
    await redis.stop();
  });

  it('bridges the CQRS EventBus to the streams: handlers on every node get stored events; other events stay local', async () => {
    const prefix = uniquePrefix();
    const m1 = appModule(redis, prefix, 'n1', ['signaling']);
    const m2 = appModule(redis, prefix, 'n2', ['signaling', 'master-duties']);
    const app1 = await NestFactory.createApplicationContext(m1.AppModule, { logger: false });
    const app2 = await NestFactory.createApplicationContext(m2.AppModule, { logger: false });
    try {
      const r1 = app1.get(m1.Registrar);
      r1.bus.publish(new RegistrationAdded(binding('sip:nest@example.net')));
      r1.bus.publish(new LocalOnly(7));
      await waitUntil(() => seen.filter((s) => s.aor === 'sip:nest@example.net').length === 2, 5000, 'handlers on both nodes');
      assert.deepEqual(seen.map((s) => s.node).sort(), ['n1', 'n2']);
      assert.ok(
        seen.every((s) => s.id),
        'handlers see the stored event id',
      );
      assert.deepEqual(local, [7]);
      assert.equal(app2.get(m2.Registrar).location.lookup('sip:nest@example.net').length, 1);
      assert.equal(app1.get(ClusterNode).status().node, 'n1');

      // Queues: n1 only produces; n2's role works the queue. A job that fails twice is retried.
      const q1 = app1.get(QueueRegistry);
      const q2 = app2.get(QueueRegistry);
      let attempts = 0;
      assert.equal(
        q1.process('mail', async () => 'never'),
        false,
        'no worker where the role does not work the queue',
      );
      const done = new Promise<string>((resolve) => {
        q2.process('mail', async (job) => {
          attempts++;
          if (attempts < 3) throw new Error('smtp down');
          resolve((job.data as { to: string }).to);
          return 'sent';
        });
      });
      await q1.add('mail', { to: 'ops@example.net' });
      assert.equal(await done, 'ops@example.net');
      assert.equal(attempts, 3);
      assert.equal(q1.worker('mail'), undefined);
    } finally {
      await app1.close();
      await app2.close();
    }
  });
});
