import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { Module, type DynamicModule, type INestApplication, type Type } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { loadConfig, type TraverseConfig, type Role } from '@traverse/config';
import { Logging, NestLogAdapter } from '@traverse/logging';
import { createRedisClient, startRedisServer, type RedisClient, type RedisConnectionOptions, type RunningRedisServer } from '@traverse/redis';
import { loadOrCreateCertificate } from './certificates';
import type { NodeContext } from './node-context';
import { RuntimeModule } from './runtime.module';
import { restoreFastStringPrototype } from './string-prototype';
import { Readiness } from './readiness';

/** The modules a role contributes, given the node context. */
export type RoleModules = (roles: readonly Role[], ctx: NodeContext) => Array<Type | DynamicModule>;

export interface RunningNode {
  ctx: NodeContext;
  app: INestApplication;
  /** Stop accepting, drain, close; resolves when everything is closed. */
  stop(reason?: string): Promise<void>;
}

/** The product's package.json, found upward from here (works from src and from dist). */
export function productInfo(): { version: string; root: string } {
  let dir = __dirname;
  for (let i = 0; i < 8; i++) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      const pkg = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'traverse') return { version: pkg.version ?? '0.0.0', root: dir };
    }
    dir = dirname(dir);
  }
  return { version: '0.0.0', root: process.cwd() };
}

export class StartError extends Error {
  constructor(readonly lines: string[], readonly exitCode = 1) {
    super(lines.join('\n'));
  }
}

/**
 * The secret the nodes of one cluster share (digest and TURN nonces one node issues are accepted
 * by the others): 32 random bytes created once in Redis by whichever node starts first.
 */
async function loadClusterSecret(redis: RedisClient, prefix: string): Promise<Buffer> {
  const key = `${prefix}:{secrets}:cluster`;
  await redis.set(key, randomBytes(32).toString('base64'), 'NX');
  const value = await redis.get(key);
  if (value === null) throw new Error(`Redis lost ${key} right after writing it`);
  return Buffer.from(value, 'base64');
}

async function connectRedis(config: TraverseConfig, dataDir: string, nodeName: string, logging: Logging) {
  const log = logging.group('redis');
  let embedded: RunningRedisServer | undefined;
  let url = config.redis.url;
  if (config.redis.mode === 'embedded') {
    log.info('starting the embedded redis-server');
    try {
      embedded = await startRedisServer({ dir: join(dataDir, 'redis'), onLog: (line) => log.finer(line) });
    } catch (e) {
      throw new StartError([`traverse: cannot start the embedded Redis: ${(e as Error).message}`]);
    }
    url = embedded.url;
    log.info({ pid: embedded.pid, socket: embedded.socketPath }, 'embedded redis-server running');
  }
  const options: RedisConnectionOptions = {
    mode: config.redis.mode,
    url,
    sentinels: config.redis.sentinels,
    sentinelName: config.redis.sentinelName,
    nodes: config.redis.nodes,
    ...(config.redis.username ? { username: config.redis.username } : {}),
    ...(config.redis.password ? { password: config.redis.password } : {}),
    connectionName: `traverse:${nodeName}`,
  };
  const client: RedisClient = createRedisClient(options);
  let lastError = '';
  client.on('error', (e: Error) => {
    if (e.message !== lastError) log.warning({ err: e.message }, 'redis connection problem');
    lastError = e.message;
  });
  client.on('ready', () => {
    if (lastError) log.info('redis connection restored');
    lastError = '';
  });
  const where = config.redis.mode === 'embedded' ? 'the embedded redis-server' : `Redis (${config.redis.mode})`;
  try {
    await Promise.race([client.connect(), new Promise((_, rej) => setTimeout(() => rej(new Error('no answer within 10 s')), 10_000).unref())]);
  } catch (e) {
    if (embedded) {
      client.disconnect();
      await embedded.stop();
      throw new StartError([`traverse: cannot connect to ${where}: ${(e as Error).message}`]);
    }
    log.warning({ err: (e as Error).message }, `cannot reach ${where} yet; retrying, the node reports not ready until it answers`);
  }
  return { client, embedded, options };
}

/**
 * Starts a node: configuration, logging, Redis, certificates, then the Nest
 * application with the modules of its roles, serving the O&M HTTPS interface.
 */
export async function startNode(opts: { argv: string[]; env: Record<string, string | undefined>; roleModules: RoleModules; overrides?: unknown }): Promise<RunningNode> {
  const startedAt = new Date();
  restoreFastStringPrototype(); // every module is loaded by now (ioredis among them), none of the hot code has run
  const loaded = loadConfig({ argv: opts.argv, env: opts.env, overrides: opts.overrides });
  if (!loaded.ok) throw new StartError(loaded.errors.map((e) => `traverse: invalid configuration: ${e}`), 2);
  const config = loaded.config;
  const { version } = productInfo();
  const dataDir = resolve(config.node.dataDir);
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new StartError([`traverse: invalid configuration: node.dataDir: cannot create ${dataDir}: ${(e as Error).message}`], 2);
  }
  const nodeName = config.node.name ?? hostname();
  const logging = await Logging.create({
    level: config.log.level,
    excludeGroups: config.log.excludeGroups,
    console: config.log.console,
    ...(config.log.file.enabled ? { file: { dir: config.log.file.dir || join(dataDir, 'logs'), maxSizeMb: config.log.file.maxSizeMb, maxFiles: config.log.file.maxFiles } } : {}),
    base: { node: nodeName },
  });
  const log = logging.group('startup');
  log.info({ version, roles: config.node.roles, config: loaded.file ?? '(defaults and environment)', dataDir }, 'traverse starting');

  let redis: Awaited<ReturnType<typeof connectRedis>> | undefined;
  try {
    redis = await connectRedis(config, dataDir, nodeName, logging);
    const oamCertificate = await loadOrCreateCertificate({
      name: 'oam', dataDir, certFile: config.oam.certFile, keyFile: config.oam.keyFile, caFile: config.oam.caFile,
    }).catch((e: Error) => {
      throw new StartError([`traverse: invalid configuration: oam: ${e.message}`], 2);
    });
    const publicCertificate = await loadOrCreateCertificate({
      name: 'public', dataDir, certFile: config.tls.certFile, keyFile: config.tls.keyFile, caFile: config.tls.caFile,
      ...(config.node.publicAddress ? { commonName: config.node.publicAddress } : {}),
    }).catch((e: Error) => {
      throw new StartError([`traverse: invalid configuration: tls: ${e.message}`], 2);
    });
    if (oamCertificate.source === 'generated') log.info({ cert: oamCertificate.certPath }, 'O&M interface uses a self-signed certificate');

    const clusterSecret = await loadClusterSecret(redis.client, config.redis.keyPrefix);
    const ctx: NodeContext = {
      version, nodeName, roles: config.node.roles, config, dataDir, logging,
      redis: redis.client, redisOptions: redis.options, embeddedRedis: redis.embedded, startedAt, oamCertificate, publicCertificate, clusterSecret,
    };

    @Module({ imports: [RuntimeModule.forNode(ctx), ...opts.roleModules(config.node.roles, ctx)] })
    class NodeModule {}

    const app = await NestFactory.create(NodeModule, {
      logger: new NestLogAdapter(logging.group('oam')),
      httpsOptions: {
        cert: oamCertificate.cert,
        key: oamCertificate.key,
        ...(oamCertificate.ca ? { ca: oamCertificate.ca } : {}),
        requestCert: config.oam.requireClientCert,
        rejectUnauthorized: config.oam.requireClientCert,
      },
      abortOnError: false,
    });
    const doc = SwaggerModule.createDocument(
      app,
      new DocumentBuilder()
        .setTitle('traverse O&M API')
        .setDescription('Operation & Maintenance interface of a traverse node: status, configuration, users, calls, events.')
        .setVersion(version)
        .build(),
    );
    SwaggerModule.setup('api/docs', app, doc, { jsonDocumentUrl: 'api/openapi.json' });
    try {
      await app.init(); // each role binds its own listeners here and names them in its errors
    } catch (e) {
      await app.close().catch(() => undefined);
      throw new StartError([`traverse: start failed: ${(e as Error).message}`]);
    }
    try {
      await app.listen(config.oam.port, config.oam.host);
    } catch (e) {
      await app.close();
      throw new StartError([`traverse: cannot listen on O&M ${config.oam.host}:${config.oam.port}: ${(e as Error).message} (set oam.port or stop what uses it)`]);
    }
    log.info(
      { oam: `https://${config.oam.host.includes(':') ? `[${config.oam.host}]` : config.oam.host}:${config.oam.port}`, redis: config.redis.mode, roles: config.node.roles },
      'traverse ready',
    );

    let stopping: Promise<void> | undefined;
    const stop = (reason = 'stop requested') => {
      stopping ??= (async () => {
        log.info({ reason }, 'traverse stopping: no new work accepted, draining');
        app.get(Readiness).startDraining();
        const force = setTimeout(() => {
          log.severe({ graceMs: config.node.shutdownGraceMs }, 'drain took too long: closing now');
        }, config.node.shutdownGraceMs);
        force.unref();
        await app.close(); // closes listeners, then runs each module's shutdown hooks
        clearTimeout(force);
        await redis!.client.quit().catch(() => redis!.client.disconnect());
        if (redis!.embedded) await redis!.embedded.stop();
        log.info('traverse stopped');
        await logging.close();
      })();
      return stopping;
    };
    return { ctx, app, stop };
  } catch (e) {
    if (redis) {
      redis.client.disconnect();
      await redis.embedded?.stop();
    }
    const lines = e instanceof StartError ? e.lines : [`traverse: start failed: ${(e as Error).stack ?? String(e)}`];
    for (const l of lines) log.severe(l);
    await logging.close();
    throw e instanceof StartError ? e : new StartError(lines);
  }
}

/** Runs a node as the process: signals stop it gracefully; a second signal ends it at once. */
export function runNodeProcess(roleModules: RoleModules): void {
  startNode({ argv: process.argv.slice(2), env: process.env, roleModules }).then(
    (node) => {
      let signals = 0;
      const onSignal = (sig: NodeJS.Signals) => {
        if (++signals > 1) process.exit(130);
        node.stop(`signal ${sig}`).then(
          () => process.exit(0),
          (e: Error) => {
            console.error(`traverse: error while stopping: ${e.message}`);
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
    },
    (e: Error) => {
      const lines = e instanceof StartError ? e.lines : [`traverse: start failed: ${e.message}`];
      for (const l of lines) console.error(l);
      process.exit(e instanceof StartError ? e.exitCode : 1);
    },
  );
}
