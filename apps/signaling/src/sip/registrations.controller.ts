import { Controller, Delete, Get, Inject, NotFoundException, Param, Query } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOkResponse, ApiParam, ApiProperty, ApiPropertyOptional, ApiQuery, ApiTags } from '@nestjs/swagger';
import { aorFromText } from './registrar/registrar';
import type { ContactBinding, LocationService } from './registrar/location-service';
import { LOCATION_SERVICE } from './sip.service';

export class RegistrationRow {
  @ApiProperty({ description: 'SIP URI: the registered address-of-record', example: 'sip:alice@example.com' }) sipUri!: string;
  @ApiProperty({ description: 'Contact the user registered', example: 'sip:alice@192.0.2.10:5060' }) contact!: string;
  @ApiProperty({ description: 'Seconds until the registration expires' }) expires!: number;
  @ApiProperty({ description: 'When it expires (ISO 8601)' }) expiresAt!: string;
  @ApiProperty({ description: 'q-value of the contact (0..1)' }) q!: number;
  @ApiPropertyOptional({ description: '+sip.instance of the UA (RFC 5626)' }) instance?: string;
  @ApiPropertyOptional({ description: 'reg-id of the flow (RFC 5626)' }) regId?: number;
  @ApiProperty({ description: 'Transport the REGISTER came on', example: 'UDP' }) transport!: string;
  @ApiProperty({ description: 'Public address the REGISTER came from (ip:port)' }) publicAddress!: string;
  @ApiProperty({ description: 'The client looked to be behind a NAT (source differs from its Via)' }) behindNat!: boolean;
  @ApiProperty({ description: 'Path (RFC 3327) recorded with the binding', type: [String] }) path!: string[];
  @ApiPropertyOptional({ description: 'User-Agent of the client' }) userAgent?: string;
  @ApiProperty({ description: 'Node holding the flow to the client' }) node!: string;
  @ApiProperty({ description: 'First registered (ISO 8601)' }) registered!: string;
  @ApiProperty({ description: 'Last registration or refresh (ISO 8601)' }) lastSeen!: string;
}

export class UnregisterResult {
  @ApiProperty() sipUri!: string;
  @ApiProperty({ description: 'Contacts removed' }) removed!: number;
}

function row(b: ContactBinding, now: number): RegistrationRow {
  return {
    sipUri: b.aor,
    contact: b.contact,
    expires: Math.max(0, Math.ceil((b.expiresAt - now) / 1000)),
    expiresAt: new Date(b.expiresAt).toISOString(),
    q: b.q,
    ...(b.instance !== undefined ? { instance: b.instance } : {}),
    ...(b.regId !== undefined ? { regId: b.regId } : {}),
    transport: b.transport ?? '',
    publicAddress: b.received ?? '',
    behindNat: b.behindNat ?? false,
    path: b.path ?? [],
    ...(b.userAgent !== undefined ? { userAgent: b.userAgent } : {}),
    node: b.node,
    registered: new Date(b.registeredAt).toISOString(),
    lastSeen: new Date(b.updatedAt).toISOString(),
  };
}

/** The Registered SIP Users page: every current registration, and Unregister. */
@ApiTags('registrations')
@Controller('api/registrations')
export class RegistrationsController {
  constructor(@Inject(LOCATION_SERVICE) private readonly location: LocationService) {}

  @Get()
  @ApiQuery({ name: 'aor', required: false, description: 'Only this address-of-record (sip:user@domain or user@domain)' })
  @ApiOkResponse({ type: RegistrationRow, isArray: true, description: 'Current registrations, by SIP URI, best q first' })
  list(@Query('aor') aor: string | undefined): RegistrationRow[] {
    const now = Date.now();
    const rows = aor ? this.location.lookup(aorFromText(aor), now) : this.location.list(now);
    return rows.map((b) => row(b, now));
  }

  @Delete(':aor')
  @ApiParam({ name: 'aor', description: 'Address-of-record, URL-encoded (sip%3Aalice%40example.com) or user@domain' })
  @ApiOkResponse({ type: UnregisterResult, description: 'Every contact of the AOR removed. The client may register again.' })
  @ApiNotFoundResponse({ description: 'No registration for this AOR' })
  async unregister(@Param('aor') aor: string): Promise<UnregisterResult> {
    const sipUri = aorFromText(aor);
    if (this.location.lookup(sipUri).length === 0) throw new NotFoundException(`no registration for ${sipUri}`);
    const removed = await this.location.remove(sipUri, undefined, 'forced');
    return { sipUri, removed };
  }
}
