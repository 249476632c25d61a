import { Controller, Get, Optional, Query } from '@nestjs/common';
import { ApiOkResponse, ApiProperty, ApiPropertyOptional, ApiQuery, ApiTags } from '@nestjs/swagger';
import { NatBindings, type NatBindingData } from '@traverse/cluster';
import { aorFromText } from '../registrar/registrar';
import { SipService } from '../sip.service';
import type { ProxyRegistration } from './nat-keeper';
import { natBindingData } from './nat-setup';

export class KeepAliveStats {
  @ApiProperty({ description: 'Keep-alives sent to the client' }) sent!: number;
  @ApiProperty({ description: 'Keep-alives the client answered' }) answered!: number;
  @ApiProperty({ description: 'Unanswered OPTIONS keep-alives in a row' }) failures!: number;
  @ApiPropertyOptional({ description: 'Last answer (ISO 8601)' }) lastAnswered?: string;
}

export class ProxyRegistrationRow {
  @ApiProperty({ description: 'SIP URI: the address-of-record of the user registered', example: 'sip:alice@example.com' }) sipUri!: string;
  @ApiPropertyOptional({ description: 'Contact the client registered' }) contact?: string;
  @ApiProperty({ description: 'Public address used to contact this user (its source address, ip:port)', example: '198.51.100.7:40312' }) publicAddress!: string;
  @ApiPropertyOptional({ description: 'Private address (on the LAN) the client registered from, ip:port', example: '10.0.0.5:5060' }) privateAddress?: string;
  @ApiProperty({ description: 'Transport protocol used when registering', enum: ['UDP', 'TCP', 'TLS', 'WS', 'WSS'] }) protocol!: string;
  @ApiProperty({ description: 'Whether this client needs relay assistance for calls (media relay)' }) relay!: boolean;
  @ApiPropertyOptional({ description: 'When the user first registered (ISO 8601)' }) registered?: string;
  @ApiPropertyOptional({ description: 'The time of the last registration (ISO 8601)' }) lastSeen?: string;
  @ApiPropertyOptional({ description: 'Re-registration frequency (s); until the client re-registers, the time granted' }) rate?: number;
  @ApiProperty({ description: 'Seconds until the registration expires if not refreshed' }) expires!: number;
  @ApiProperty({ description: 'When it expires (ISO 8601)' }) expiresAt!: string;
  @ApiProperty({ description: 'Node holding the flow to the client' }) node!: string;
  @ApiPropertyOptional({ description: 'Registered with the registrar of this domain through this server (proxied), not with the local registrar', example: 'example.net' })
  proxiedTo?: string;
  @ApiPropertyOptional({ type: KeepAliveStats, description: 'Keep-alives (on the node that holds the client)' }) keepAlive?: KeepAliveStats;
}

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

function fromCluster(b: NatBindingData, now: number, local: ProxyRegistration | undefined): ProxyRegistrationRow {
  const row: ProxyRegistrationRow = {
    sipUri: b.aor ?? '',
    publicAddress: b.publicAddress,
    protocol: b.transport,
    relay: b.relay ?? true,
    expires: Math.max(0, Math.ceil((b.expiresAt - now) / 1000)),
    expiresAt: new Date(b.expiresAt).toISOString(),
    node: b.node,
  };
  if (b.contact !== undefined) row.contact = b.contact;
  if (b.privateAddress !== undefined) row.privateAddress = b.privateAddress;
  if (b.registeredAt !== undefined) row.registered = iso(b.registeredAt)!;
  if (b.lastSeen !== undefined) row.lastSeen = iso(b.lastSeen)!;
  if (b.rate !== undefined) row.rate = b.rate;
  if (local !== undefined) row.keepAlive = stats(local);
  if (b.id.startsWith('proxied ') && b.aor !== undefined) row.proxiedTo = b.aor.slice(b.aor.lastIndexOf('@') + 1);
  return row;
}

function stats(e: ProxyRegistration): KeepAliveStats {
  const k = e.keepAlive;
  return { sent: k.sent, answered: k.answered, failures: k.failures, ...(k.lastAnsweredAt !== undefined ? { lastAnswered: iso(k.lastAnsweredAt)! } : {}) };
}

function fromLocal(e: ProxyRegistration, now: number, node: string): ProxyRegistrationRow {
  return {
    sipUri: e.aor,
    contact: e.contact,
    publicAddress: e.publicAddress,
    ...(e.privateAddress !== undefined ? { privateAddress: e.privateAddress } : {}),
    protocol: e.transport,
    relay: e.relay,
    registered: iso(e.registeredAt)!,
    lastSeen: iso(e.lastSeen)!,
    rate: e.rate,
    expires: Math.max(0, Math.ceil((e.expiresAt - now) / 1000)),
    expiresAt: new Date(e.expiresAt).toISOString(),
    node,
    keepAlive: stats(e),
  };
}

/**
 * The Proxy Registrations page: registrations from clients connecting through SIP from behind a
 * NAT to the local registrar, and registrations this server proxied to other domains' registrars.
 */
@ApiTags('sip')
@Controller('api/sip/proxy-registrations')
export class ProxyRegistrationsController {
  constructor(
    private readonly sip: SipService,
    @Optional() private readonly clusterTable?: NatBindings,
  ) {}

  @Get()
  @ApiQuery({ name: 'aor', required: false, description: 'Only this address-of-record (sip:user@domain or user@domain)' })
  @ApiOkResponse({ type: ProxyRegistrationRow, isArray: true, description: 'Clients registered from behind NAT, on every node of the cluster, by SIP URI' })
  list(@Query('aor') aor: string | undefined): ProxyRegistrationRow[] {
    const now = Date.now();
    const keeper = this.sip.nat;
    const node = this.sip.nodeName;
    const local = new Map((keeper?.list(now) ?? []).map((e) => [e.id, e]));
    const proxied = (this.sip.proxied?.list(now) ?? []).map((e) => natBindingData(e, node));
    let rows: ProxyRegistrationRow[];
    if (this.clusterTable !== undefined) {
      const seen = new Set<string>();
      rows = this.clusterTable.list(now).map((b) => {
        seen.add(b.id);
        return fromCluster(b, now, local.get(b.id));
      });
      // held here but not (yet) read back from the cluster streams
      for (const [id, e] of local) if (!seen.has(id)) rows.push(fromLocal(e, now, node));
      for (const b of proxied) if (!seen.has(b.id)) rows.push(fromCluster(b, now, undefined));
    } else rows = [...[...local.values()].map((e) => fromLocal(e, now, node)), ...proxied.map((b) => fromCluster(b, now, undefined))];
    const wanted = aor ? aorFromText(aor) : undefined;
    return rows.filter((r) => wanted === undefined || r.sipUri === wanted).sort((a, b) => a.sipUri.localeCompare(b.sipUri) || a.publicAddress.localeCompare(b.publicAddress));
  }
}
