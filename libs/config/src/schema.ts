import { isIP } from 'node:net';
import { z } from 'zod';

// The configuration tree of a traverse node. Defaults come from the seeds' port
// tables and settings pages (LifeSize Communicator Traversal Server / RealTunnel).
// Every leaf carries a description: the README's configuration reference is
// generated from this schema and a test keeps the two equal.

const port = z.number().int().min(0).max(65535);
const hostPort = z.object({ host: z.string().min(1), port: port.min(1) }).strict();

export const LOG_LEVELS = ['off', 'severe', 'warning', 'info', 'config', 'fine', 'finer', 'finest'] as const;
export const LOG_GROUPS = [
  'startup', 'config', 'redis', 'cluster', 'oam', 'sip', 'transport', 'transaction', 'registrar', 'proxy', 'nat', 'calls',
  'stun', 'turn', 'tunnel', 'media', 'auth', 'radius', 'database', 'events', 'snmp', 'mail', 'cdr',
] as const;
export const ROLES = ['signaling', 'media-engine'] as const;

const nodeSchema = z
  .object({
    name: z.string().min(1).max(64).regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, underscore and dash only').optional()
      .describe('Name of this node in the cluster Servers table (default: the host name).'),
    roles: z.array(z.enum(ROLES)).min(1).default(['signaling', 'media-engine'])
      .describe('Roles this process runs: signaling, media-engine, or both (the single-node default).'),
    dataDir: z.string().min(1).default('./data')
      .describe('Folder for persistent state: embedded Redis data, generated certificates, log files.'),
    publicAddress: z.string().default('')
      .describe('Signaling Server public address advertised to other hosts (empty: not set).'),
    shutdownGraceMs: z.number().int().min(0).max(600000).default(10000)
      .describe('How long a graceful stop waits for work in progress to drain before closing.'),
  })
  .strict();

const logSchema = z
  .object({
    level: z.enum(LOG_LEVELS).default('info').describe('Level of logged messages: off, severe, warning, info, config, fine, finer, finest.'),
    excludeGroups: z.array(z.enum(LOG_GROUPS)).default([]).describe(`Log groups to exclude (any of: ${LOG_GROUPS.join(', ')}).`),
    console: z.enum(['auto', 'pretty', 'json', 'off']).default('auto')
      .describe('Console output: pretty lines for a person, JSON lines for a collector, auto (pretty on a terminal).'),
    file: z
      .object({
        enabled: z.boolean().default(true).describe('Write rotating JSON log files.'),
        dir: z.string().default('').describe('Folder of the log files (empty: <node.dataDir>/logs).'),
        maxSizeMb: z.number().int().min(1).max(10240).default(20).describe('Rotate a log file when it reaches this size (MiB).'),
        maxFiles: z.number().int().min(1).max(1000).default(10).describe('How many rotated log files to keep.'),
      })
      .strict()
      .prefault({}),
  })
  .strict();

const redisSchema = z
  .object({
    mode: z.enum(['embedded', 'standalone', 'sentinel', 'cluster']).default('embedded')
      .describe('embedded: start a private redis-server (installed from Debian when missing); or connect to standalone, sentinel or cluster.'),
    url: z.string().default('').describe('standalone: redis://[user:pass@]host:port/db, rediss://..., or unix:///path.'),
    sentinels: z.array(hostPort).default([]).describe('sentinel: the Sentinel endpoints.'),
    sentinelName: z.string().default('mymaster').describe('sentinel: name of the monitored master.'),
    nodes: z.array(hostPort).default([]).describe('cluster: seed nodes of the Redis Cluster.'),
    username: z.string().default('').describe('ACL user name (sentinel/cluster; standalone may put it in the url).'),
    password: z.string().default('').describe('Password (sentinel/cluster; standalone may put it in the url). Never logged.'),
    keyPrefix: z.string().regex(/^[A-Za-z0-9:_-]*$/).default('traverse').describe('Prefix of every key this cluster writes.'),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.mode === 'standalone' && !r.url) ctx.addIssue({ code: 'custom', path: ['url'], message: 'required when redis.mode is standalone' });
    if (r.mode === 'sentinel' && r.sentinels.length === 0) ctx.addIssue({ code: 'custom', path: ['sentinels'], message: 'at least one sentinel is required when redis.mode is sentinel' });
    if (r.mode === 'cluster' && r.nodes.length === 0) ctx.addIssue({ code: 'custom', path: ['nodes'], message: 'at least one node is required when redis.mode is cluster' });
  });

const oamSchema = z
  .object({
    host: z.string().default('127.0.0.1').describe('Address the O&M HTTPS interface listens on (127.0.0.1: this machine only).'),
    port: port.default(8181).describe('O&M HTTPS port (REST API, OpenAPI document, health, metrics).'),
    certFile: z.string().default('').describe('PEM certificate of the O&M interface (empty: a self-signed one is generated in the data folder).'),
    keyFile: z.string().default('').describe('PEM private key of the O&M interface.'),
    caFile: z.string().default('').describe('PEM CA certificates whose client certificates may use the O&M interface.'),
    requireClientCert: z.boolean().default(false).describe('Refuse O&M clients without a certificate signed by caFile.'),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (Boolean(o.certFile) !== Boolean(o.keyFile)) ctx.addIssue({ code: 'custom', path: ['keyFile'], message: 'certFile and keyFile go together' });
    if (o.requireClientCert && !o.caFile) ctx.addIssue({ code: 'custom', path: ['caFile'], message: 'required when requireClientCert is true' });
  });

const tlsSchema = z
  .object({
    certFile: z.string().default('').describe('Public certificate (PEM) for SIP over TLS/WSS and the TLS tunnel (empty: self-signed, generated).'),
    keyFile: z.string().default('').describe('Private key (PEM) of the public certificate.'),
    caFile: z.string().default('').describe('CA certificates (roots.pem) presented with the public certificate.'),
  })
  .strict();

const ipAddress = z.string().refine((s) => isIP(s) !== 0, 'an IPv4 or IPv6 address');
export const NAT_KEEPALIVE_METHODS = ['options', 'crlf', 'none'] as const;
export const SIP_DIGEST_ALGORITHMS = ['SHA-512-256', 'SHA-256', 'MD5'] as const;

const sipSchema = z
  .object({
    listenAddresses: z.array(ipAddress).min(1).default(['0.0.0.0', '::'])
      .describe('Addresses SIP listens on, IPv4 and IPv6 (0.0.0.0 and :: are every address; :: is skipped when the host has no IPv6).'),
    udpPort: port.default(5060).describe('SIP over UDP port.'),
    tcpPort: port.default(5060).describe('SIP over TCP port.'),
    tlsPort: port.default(5061).describe('SIP over TLS port.'),
    wsPort: port.default(5066).describe('SIP over WebSocket port (RFC 7118); 0 disables.'),
    wssPort: port.default(7443).describe('SIP over secure WebSocket port; 0 disables.'),
    maxUdpPacketSize: z.number().int().min(512).max(65000).default(1300)
      .describe('Requests larger than this go over TCP (MTU - 200, or 1300 when the MTU is unknown).'),
    udpSockets: z.enum(['auto', 'native', 'node']).default('auto')
      .describe('Sockets of the SIP UDP listeners: native (the native addon\'s: batched reads, no buffer per datagram; start fails when it cannot be built here), node (node:dgram), auto (native when available, else node).'),
    usePublicAddress: z.boolean().default(true).describe('Use the public address in SIP signaling (Via, Record-Route).'),
    recurseOnRedirect: z.boolean().default(true).describe('Incoming Redirect Messages: recurse on 3xx (true) or pass them upstream (false).'),
    homeRouting: z.boolean().default(false).describe('Route requests from non-local users to their home proxy.'),
    domainRegistrationPolicy: z.array(z.string().min(1)).default([])
      .describe('Other domains users may register to through this server (their REGISTERs are proxied to the domain\'s registrar; others get 403). Case-insensitive; an entry *.example.com names the subdomains of example.com, not example.com itself. Empty: all. Local users always register.'),
    proxyMode: z.enum(['forward', 'redirect']).default('forward').describe('Handling of external requests: forward or redirect.'),
    homeProxy: z.string().default('')
      .describe('Home proxy of non-local users for home routing, as sip:host[:port] or host[:port] (empty: the domain of the caller).'),
    forking: z.enum(['parallel', 'sequential']).default('parallel')
      .describe('Calls to a user with several contacts ring them all at once (parallel) or one after the other, best q first (sequential).'),
    sequentialForkingTime: z.number().int().min(1).max(300).default(10)
      .describe('Sequential forking: seconds one contact rings before the next one is tried.'),
    alwaysRecordRoute: z.boolean().default(true)
      .describe('Record-Route every dialog-creating request (false: INVITE dialogs, which the call table follows, and parties reached through their flow only).'),
    maxForwards: z.number().int().min(1).max(255).default(70)
      .describe('Max Forwards: the highest Max-Forwards a forwarded request carries (also the value of a request without one).'),
    t1Ms: z.number().int().min(10).max(10000).default(500).describe('Transaction timer T1, the round-trip estimate (ms); retransmission and timeout timers derive from it.'),
    t2Ms: z.number().int().min(10).max(60000).default(4000).describe('Transaction timer T2, the longest retransmission interval (ms).'),
    t4Ms: z.number().int().min(0).max(60000).default(5000).describe('Transaction timer T4, the longest time a message stays in the network (ms).'),
    rateLimit: z.number().int().min(0).max(1000000).default(100)
      .describe('Messages per second one source IP may send on average (0: no limit); trusted hosts are exempt.'),
    rateLimitBurst: z.number().int().min(1).max(1000000).default(200).describe('Messages one source IP may send at once above its rate.'),
    digestAlgorithms: z.array(z.enum(SIP_DIGEST_ALGORITHMS)).min(1).default(['MD5'])
      .describe('Digest algorithms offered in challenges, strongest first (many deployed clients know MD5 only).'),
    natKeepAlive: z.enum(NAT_KEEPALIVE_METHODS).default('options')
      .describe('Keep-alive sent to registered clients behind NAT: options (OPTIONS requests, answers counted), crlf (CRLF pings, RFC 5626) or none.'),
    natKeepAliveInterval: z.number().int().min(5).max(3600).default(30).describe('Seconds between keep-alives to one client behind NAT.'),
    natKeepAliveFailures: z.number().int().min(1).max(100).default(3)
      .describe('Unanswered OPTIONS keep-alives in a row after which the client\'s registration is removed.'),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.t2Ms < s.t1Ms) ctx.addIssue({ code: 'custom', path: ['t2Ms'], message: `must not be below t1Ms (${s.t1Ms})` });
  });

const registrarSchema = z
  .object({
    enabled: z.boolean().default(true).describe('Run the SIP registrar for the local domains.'),
    domains: z.array(z.string().min(1)).default([]).describe('Local SIP domains.'),
    prefixes: z.array(z.string().regex(/^\+?[0-9]+$/, 'digits with an optional leading +')).default([])
      .describe('Local number prefixes.'),
    securityLevel: z.enum(['full', 'medium', 'registration', 'none']).default('full').describe('Security level: full, medium, registration or none.'),
    trustedHosts: z.array(z.string().min(1)).default([]).describe('Hosts (name or IP, optional :port) not challenged for authentication.'),
    minExpires: z.number().int().min(1).default(60).describe('Shortest registration accepted (s); shorter gets 423 with Min-Expires.'),
    maxExpires: z.number().int().min(1).default(3600).describe('Longest registration granted (s).'),
    defaultExpires: z.number().int().min(1).default(3600).describe('Registration time when the request names none (s).'),
    rejectAcrossNat: z.boolean().default(false).describe('Reject registrations from clients behind NAT.'),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.minExpires > r.maxExpires) ctx.addIssue({ code: 'custom', path: ['minExpires'], message: `must not exceed maxExpires (${r.maxExpires})` });
    if (r.defaultExpires < r.minExpires || r.defaultExpires > r.maxExpires)
      ctx.addIssue({ code: 'custom', path: ['defaultExpires'], message: `must lie between minExpires and maxExpires` });
  });

const stunSchema = z
  .object({
    enabled: z.boolean().default(true).describe('Run the STUN server.'),
    address: z.string().default('')
      .describe('IPv4 address of the STUN server on the signaling node, IP A of RFC 3489/5780 (empty: all addresses, advertised as node.publicAddress when that is an IP).'),
    address6: z.string().refine((s) => s === '' || isIP(s) === 6, 'an IPv6 address, or empty').default('::')
      .describe('IPv6 address the STUN server listens on too, with port one and port two (:: every IPv6 address, skipped when the host has no IPv6; empty: IPv4 only).'),
    portOne: port.default(3478).describe('STUN server port one.'),
    portTwo: port.default(34501).describe('STUN server port two.'),
    mediaEnginePort: port.default(34501)
      .describe('Remote STUN server port: the secondary STUN server on the primary media engine (IP B, with port one) answers change-IP.'),
  })
  .strict();

const cidrList = z.array(z.string().regex(/^[0-9A-Fa-f:.]+(\/[0-9]{1,3})?$/, 'an IP address or CIDR range'));

const turnSchema = z
  .object({
    enabled: z.boolean().default(true).describe('Enable TURN server.'),
    address: z.string().default('').describe('Address the TURN front of the signaling node listens on (empty: all addresses).'),
    port: port.default(3560).describe('TURN port (UDP/TCP) on the signaling server.'),
    tlsPort: port.default(5349).describe('TURN over TLS port on the signaling server; 0 disables.'),
    mediaEnginePort: port.default(3560)
      .describe('TURN port on the media engine. With both roles in one process on the same address and port, one listener serves both (the engine allocates).'),
    mediaEngineTlsPort: port.default(5349).describe('TURN over TLS port on the media engine; 0 disables.'),
    redirectByLocation: z.boolean().default(false).describe('Enable redirect based on TURN client location.'),
    regions: z
      .array(
        z.object({
          region: z.string().regex(/^[A-Za-z]{2}(-[A-Za-z0-9]{1,3})?$/, 'a country code (DE) or country-region (US-CA)'),
          mediaEngine: z.string().min(1),
        }).strict(),
      )
      .default([])
      .describe('Client location to media engine: country (DE) or country-region (US-CA) -> media engine name; the first match wins, country-region before country.'),
    defaultMediaEngine: z.string().default('')
      .describe('Media engine for clients no region maps (loopback, private, unknown); empty: this node\'s own, else the first one up.'),
    mediaEngines: z
      .array(z.object({ name: z.string().min(1), address: z.string().min(1), port: port.min(1).default(3560), tlsPort: port.default(5349) }).strict())
      .default([])
      .describe('Media engines the TURN front redirects to, besides those the cluster announces (name, address, port, tlsPort).'),
    passwordAlgorithms: z.array(z.enum(['SHA-256', 'MD5'])).default([])
      .describe('RFC 8489 password algorithms offered to TURN clients, in preference order (e.g. [SHA-256, MD5]); clients that ignore them use MD5 when it is listed. Empty: RFC 5389, MD5 only. SHA-256 needs a provider that holds passwords (fixed, database), not MD5 HA1 only.'),
    maxAllocationsPerUser: z.number().int().min(1).max(1000000).default(10).describe('Allocations one user may hold on a media engine (486 beyond).'),
    maxAllocations: z
      .number()
      .int()
      .min(1)
      .max(10000000)
      .optional()
      .describe('Allocations a media engine holds in total (508 beyond). Default: the number of ports in its relay range (mediaEngine.relayPortMin to relayPortMax), each allocation taking one.'),
    maxBandwidthKbps: z.number().int().min(0).default(0).describe('Bandwidth cap of one allocation, each direction (kbit/s; 0: none). Packets beyond it are dropped.'),
    defaultLifetime: z.number().int().min(60).max(86400).default(600).describe('Allocation lifetime granted when the client asks none, and the least granted (s).'),
    maxLifetime: z.number().int().min(60).max(86400).default(3600).describe('Longest allocation lifetime granted (s).'),
    allowPrivatePeers: z.boolean().default(false).describe('Relay to private peers (RFC 1918, CGNAT, IPv6 ULA); loopback, link-local, multicast and unspecified stay denied.'),
    allowedPeers: cidrList.default([]).describe('Peer addresses or ranges allowed whatever their kind (e.g. 10.1.0.0/16), in every spelling.'),
    deniedPeers: cidrList.default([]).describe('Peer addresses or ranges denied besides the defaults.'),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (t.defaultLifetime > t.maxLifetime) ctx.addIssue({ code: 'custom', path: ['defaultLifetime'], message: `must not exceed maxLifetime (${t.maxLifetime})` });
    if (t.maxAllocations !== undefined && t.maxAllocationsPerUser > t.maxAllocations) ctx.addIssue({ code: 'custom', path: ['maxAllocationsPerUser'], message: `must not exceed maxAllocations (${t.maxAllocations})` });
  });

const tunnelSchema = z
  .object({
    httpsPort: port.default(443).describe('Tunnel port: standard HTTPS; 0 disables.'),
    tlsPort: port.default(444).describe('Tunnel port: TLS; 0 disables.'),
    httpPort: port.default(80).describe('Tunnel port: HTTP; 0 disables.'),
  })
  .strict();

const mediaSchema = z
  .object({
    relay: z.enum(['all', 'non-ice', 'all-nat', 'local-users', 'none']).default('all-nat').describe('Media relay level: all, non-ice, all-nat, local-users, none.'),
    directMediaSameNat: z.boolean().default(false).describe('Allow direct media for UDP registrations behind the same public address.'),
    allowDirectMediaBetweenClients: z.boolean().default(true).describe('Allow direct media between tunnel clients.'),
    multiTcpAudio: z.boolean().default(false).describe('Enable multi-TCP on audio.'),
    multiTcpVideo: z.boolean().default(false).describe('Enable multi-TCP on video.'),
  })
  .strict();

const mediaEngineSchema = z
  .object({
    name: z.string().default('').describe('Name of this media engine in the cluster (empty: the node name).'),
    address: z.string().default('')
      .describe('Local address the media engine binds its TURN listeners, relayed sockets and secondary STUN server to (empty: all addresses). A second address of the host (IP B) enables STUN change-IP on one machine.'),
    publicAddress: z.string().default('').describe('Public media address clients send to (empty: the control address).'),
    internalAddress: z.string().default('').describe('Media address for components on the internal LAN (rarely used).'),
    region: z.string().regex(/^([A-Za-z]{2}(-[A-Za-z0-9]{1,3})?)?$/, 'a country code (DE) or country-region (US-CA)').default('')
      .describe('Region this media engine serves (DE, US-CA): with turn.redirectByLocation, clients located there are sent to it unless turn.regions says otherwise.'),
    relayPortMin: port.default(45100).describe('First UDP port of the relay range.'),
    relayPortMax: port.default(45900).describe('Last UDP port of the relay range.'),
    dataPlane: z.enum(['auto', 'native', 'node']).default('auto')
      .describe('UDP data plane of the TURN relay: native (batched native relay, ChannelData forwarded without JavaScript; start fails when it cannot be built here), node (node:dgram), auto (native when available, else node).'),
    controlPort: port.default(8043).describe('Control port the signaling node dials (authenticated by the token).'),
    token: z.string().default('').describe('Secret token the signaling node must present (empty: generated into the data folder). Never logged.'),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (m.relayPortMin > m.relayPortMax) ctx.addIssue({ code: 'custom', path: ['relayPortMin'], message: 'must not exceed relayPortMax' });
  });

const authSchema = z
  .object({
    databaseMode: z.enum(['none', 'direct', 'master']).default('none').describe('Database mode: none, direct (connect to the database), master (use the master node as database).'),
    mode: z.enum(['fixed', 'radius', 'database', 'plugin']).default('fixed').describe('Authentication mode of tunnel, SIP and TURN users.'),
    fixedPassword: z.string().default('').describe('Password for fixed authentication (empty: generated into <node.dataDir>/secrets). Never logged.'),
    realm: z.string().default('').describe('Digest realm (empty: the first local domain, else the public address).'),
  })
  .strict();

const clusterSchema = z
  .object({
    masterAddress: z.string().default('').describe('Master Proxy server address (empty: elected by the cluster).'),
    redirectOnConnect: z.boolean().default(true).describe('Enable redirect of tunnel clients to the nearest node when they connect.'),
    servers: z.array(z.object({ name: z.string().min(1), address: z.string().min(1) }).strict()).default([])
      .describe('Signaling servers of the cluster (name, address).'),
    leaseMs: z.number().int().min(1000).max(600000).default(10000).describe('Master lease time (ms): a new master takes over within it.'),
    heartbeatMs: z.number().int().min(100).max(60000).default(2000)
      .describe('Interval of node heartbeats (ms); a node that misses three is shown down in the Servers table.'),
    nodeAddress: z.string().default('')
      .describe('Address the other nodes of the cluster reach this node at, for requests to flows it holds (empty: the first non-loopback IPv4 address of the host, else 127.0.0.1).'),
    commitWindowMs: z.number().int().min(0).max(200).default(40)
      .describe('Group commit (ms): under load, state changes made within this window are written to Redis together, one round trip and one wake-up of every node for the group (a REGISTER is answered up to this much later); a change made while the node writes nothing goes at once. A longer window means fewer, larger groups: less CPU per change on the node, on Redis and on every other node. 0 writes each change at once.'),
    shards: z.number().int().min(1).max(1024).default(16)
      .describe('Number of event stream shards. Fixed for the life of the data: every node of a cluster must use the same value.'),
  })
  .strict();

const callsSchema = z
  .object({
    maxConcurrent: z.number().int().min(0).default(500).describe('Max concurrent calls (0: no calls).'),
    closedCallsKept: z.number().int().min(0).max(1000000).default(1000).describe('Closed calls kept in the call table.'),
    maxDuration: z.number().int().min(0).max(604800).default(14400)
      .describe('An answered call with no BYE is released after this many seconds (CALL_REL_TIMEOUT), sooner when its session interval (RFC 4028) runs out unrefreshed; 0: never.'),
  })
  .strict();

const eventsSchema = z
  .object({
    tableSize: z.number().int().min(1).max(1000000).default(1000).describe('Event table size.'),
    trapReceiver: z.string().default('').describe('SNMP trap receiver host:port (empty: no traps).'),
    smtpServer: z.string().default('').describe('Outgoing SMTP server host[:port] for event mail (empty: no mail).'),
    mailUsername: z.string().default('').describe('SMTP user name.'),
    mailPassword: z.string().default('').describe('SMTP password. Never logged.'),
    mailRecipients: z.array(z.string().email()).default([]).describe('Recipients of event mail.'),
  })
  .strict();

// A DNS server: IPv4 or IPv6 address with an optional port (192.0.2.53, 192.0.2.53:5353, 2001:db8::53, [2001:db8::53]:5353).
const dnsServer = z
  .string()
  .regex(
    /^(?:(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?|[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*|\[[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*\](?::\d{1,5})?)$/,
    'an IP address with an optional port, e.g. 192.0.2.53, 192.0.2.53:5353, 2001:db8::53, [2001:db8::53]:5353',
  );

const dnsSchema = z
  .object({
    servers: z.array(dnsServer).default([])
      .describe("DNS servers that locate SIP servers of other domains (RFC 3263 NAPTR, SRV, A/AAAA), as IP or IP:port (empty: the system's, /etc/resolv.conf)."),
    timeoutMs: z.number().int().min(100).max(60000).default(2000).describe('Time to wait for a DNS answer before asking again (ms).'),
    tries: z.number().int().min(1).max(10).default(2).describe('Attempts of one DNS query before it counts as timed out.'),
    cacheSize: z.number().int().min(0).max(1000000).default(10000)
      .describe('DNS answers kept in memory (0: none), the least recently used dropped first; A and AAAA answers are kept for their TTL.'),
    serviceTtlSeconds: z.number().int().min(0).max(86400).default(60)
      .describe('How long NAPTR and SRV answers are kept (s); the resolver does not report their TTL.'),
    negativeTtlSeconds: z.number().int().min(0).max(86400).default(30).describe('How long a name or record found missing is remembered (s).'),
    ipv6: z.boolean().default(true).describe('Also look up AAAA records; IPv6 addresses are tried after the IPv4 ones of the same host.'),
  })
  .strict();

export const configSchema = z
  .object({
    node: nodeSchema.prefault({}),
    log: logSchema.prefault({}),
    redis: redisSchema.prefault({}),
    oam: oamSchema.prefault({}),
    tls: tlsSchema.prefault({}),
    sip: sipSchema.prefault({}),
    dns: dnsSchema.prefault({}),
    registrar: registrarSchema.prefault({}),
    stun: stunSchema.prefault({}),
    turn: turnSchema.prefault({}),
    tunnel: tunnelSchema.prefault({}),
    media: mediaSchema.prefault({}),
    mediaEngine: mediaEngineSchema.prefault({}),
    auth: authSchema.prefault({}),
    cluster: clusterSchema.prefault({}),
    calls: callsSchema.prefault({}),
    events: eventsSchema.prefault({}),
  })
  .strict();

export type TraverseConfig = z.infer<typeof configSchema>;
export type Role = (typeof ROLES)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogGroup = (typeof LOG_GROUPS)[number];

/** Keys whose values are secrets: never logged, never returned by the API. */
export const SECRET_KEYS = new Set(['redis.password', 'auth.fixedPassword', 'mediaEngine.token', 'events.mailPassword']);
