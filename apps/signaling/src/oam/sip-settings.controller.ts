import { BadRequestException, Body, Controller, Get, Inject, Put, Req } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBody, ApiOkResponse, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { NODE_CONTEXT, type NodeContext } from '@traverse/runtime';
import type { Request } from 'express';
import type { TLSSocket } from 'node:tls';
import { ClusterSipSettings } from './cluster-sip-settings';
import { APPLIED_AT_RUN_TIME } from './sip-settings';

export class SettingChangeRow {
  @ApiProperty({ description: 'The value the cluster has for the key' }) value!: unknown;
  @ApiProperty({ description: 'When it was changed (ISO 8601)' }) changedAt!: string;
  @ApiPropertyOptional({ description: 'Who changed it: the O&M client certificate subject and/or the source address' }) changedBy?: string;
  @ApiProperty({ description: 'Node that took the change' }) node!: string;
  @ApiProperty({ description: 'How many times the key was changed' }) revision!: number;
}

export class LastSettingsChange extends SettingChangeRow {
  @ApiProperty({ description: 'The key changed last' }) key!: string;
}

export class SipSettingsPage {
  @ApiProperty({ description: 'SIP Configuration: the sip section of the configuration, as in force (see the configuration reference)', type: 'object', additionalProperties: true })
  sip!: Record<string, unknown>;
  @ApiProperty({ description: 'SIP Registrar Settings: the registrar section of the configuration, as in force', type: 'object', additionalProperties: true })
  registrar!: Record<string, unknown>;
  @ApiProperty({ description: 'Keys a PUT applies at once; every other key is in force after a restart', type: [String] })
  appliedAtRunTime!: string[];
  @ApiProperty({
    description: 'Keys the cluster changed through this API (dotted, e.g. registrar.maxExpires) with the last change of each; they win over the file and environment on every node',
    type: 'object',
    additionalProperties: { $ref: '#/components/schemas/SettingChangeRow' },
  })
  changes!: Record<string, SettingChangeRow>;
  @ApiPropertyOptional({ type: LastSettingsChange, description: 'The last change made through this API' })
  lastChange?: LastSettingsChange;
  @ApiProperty({ description: 'Cluster values this node takes at its next start (keys that need a restart)', type: 'object', additionalProperties: true })
  pendingRestart!: Record<string, unknown>;
}

export class SipSettingsChange {
  @ApiProperty({ description: 'Keys whose new value is in force now', type: [String] }) applied!: string[];
  @ApiProperty({ description: 'Keys whose new value is kept by the cluster and in force on each node after its restart; unchanged until then', type: [String] })
  restartRequired!: string[];
  @ApiProperty({ type: SipSettingsPage, description: 'The settings in force after the change' }) settings!: SipSettingsPage;
}

/** Who makes a change: the client certificate's subject when the O&M client showed one, and its address. */
function changedBy(req: Request): string {
  const socket = req.socket as Partial<TLSSocket>;
  const address = socket.remoteAddress ?? 'unknown';
  const cn = socket.authorized === true ? socket.getPeerCertificate?.()?.subject?.CN : undefined;
  return typeof cn === 'string' && cn !== '' ? `${cn} (${address})` : address;
}

/**
 * The SIP Configuration and SIP Registrar Settings pages: read, and change with validation. A
 * change is the cluster's: every node applies it and keeps it across restarts.
 */
@ApiTags('sip')
@Controller('api/sip/settings')
export class SipSettingsController {
  constructor(
    @Inject(NODE_CONTEXT) private readonly ctx: NodeContext,
    private readonly settings: ClusterSipSettings,
  ) {}

  @Get()
  @ApiOkResponse({ type: SipSettingsPage })
  get(): SipSettingsPage {
    const c = this.ctx.config;
    const changes: Record<string, SettingChangeRow> = {};
    let lastChange: LastSettingsChange | undefined;
    let lastAt = -1;
    for (const [key, ch] of Object.entries(this.settings.changes())) {
      const row: SettingChangeRow = { value: ch.value, changedAt: new Date(ch.changedAt).toISOString(), node: ch.node, revision: ch.revision, ...(ch.changedBy !== undefined ? { changedBy: ch.changedBy } : {}) };
      changes[key] = row;
      if (ch.changedAt > lastAt) {
        lastAt = ch.changedAt;
        lastChange = { key, ...row };
      }
    }
    return {
      sip: { ...c.sip },
      registrar: { ...c.registrar },
      appliedAtRunTime: [...APPLIED_AT_RUN_TIME],
      changes,
      ...(lastChange ? { lastChange } : {}),
      pendingRestart: this.settings.pendingRestart(),
    };
  }

  @Put()
  @ApiBody({ description: 'Any part of { sip: {...}, registrar: {...} }; keys left out keep their value', schema: { type: 'object', additionalProperties: true } })
  @ApiOkResponse({ type: SipSettingsChange, description: 'Validated as a whole, stored by the cluster and in force on this node when answered; every node applies it and keeps it across restarts' })
  @ApiBadRequestResponse({ description: 'A key unknown or out of range: nothing changed on any node; the message lists every problem' })
  async put(@Body() body: unknown, @Req() req: Request): Promise<SipSettingsChange> {
    const r = await this.settings.change(body, changedBy(req));
    if (!r.ok) throw new BadRequestException(r.errors);
    return { applied: r.applied, restartRequired: r.restartRequired, settings: this.get() };
  }
}
