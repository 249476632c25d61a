import { BadRequestException, Body, Controller, Get, Inject, Put } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBody, ApiOkResponse, ApiProperty, ApiTags } from '@nestjs/swagger';
import { NODE_CONTEXT, type NodeContext } from '@traverse/runtime';
import { SipService } from '../sip/sip.service';
import { APPLIED_AT_RUN_TIME, applySettings, validateSettingsChange } from './sip-settings';

export class SipSettingsPage {
  @ApiProperty({ description: 'SIP Configuration: the sip section of the configuration, as in force (see the configuration reference)', type: 'object', additionalProperties: true })
  sip!: Record<string, unknown>;
  @ApiProperty({ description: 'SIP Registrar Settings: the registrar section of the configuration, as in force', type: 'object', additionalProperties: true })
  registrar!: Record<string, unknown>;
  @ApiProperty({ description: 'Keys a PUT applies at once; every other key needs a restart with the value in the configuration', type: [String] })
  appliedAtRunTime!: string[];
}

export class SipSettingsChange {
  @ApiProperty({ description: 'Keys whose new value is in force now', type: [String] }) applied!: string[];
  @ApiProperty({ description: 'Keys whose new value needs a restart with it in the configuration (file or environment); unchanged until then', type: [String] })
  restartRequired!: string[];
  @ApiProperty({ type: SipSettingsPage, description: 'The settings in force after the change' }) settings!: SipSettingsPage;
}

/** The SIP Configuration and SIP Registrar Settings pages: read, and change with validation. */
@ApiTags('sip')
@Controller('api/sip/settings')
export class SipSettingsController {
  constructor(
    @Inject(NODE_CONTEXT) private readonly ctx: NodeContext,
    private readonly sip: SipService,
  ) {}

  @Get()
  @ApiOkResponse({ type: SipSettingsPage })
  get(): SipSettingsPage {
    const c = this.ctx.config;
    return { sip: { ...c.sip }, registrar: { ...c.registrar }, appliedAtRunTime: [...APPLIED_AT_RUN_TIME] };
  }

  @Put()
  @ApiBody({ description: 'Any part of { sip: {...}, registrar: {...} }; keys left out keep their value', schema: { type: 'object', additionalProperties: true } })
  @ApiOkResponse({ type: SipSettingsChange, description: 'Validated as a whole and applied to this node; not kept across a restart (set the configuration for that)' })
  @ApiBadRequestResponse({ description: 'A key unknown or out of range: nothing changed; the message lists every problem' })
  put(@Body() body: unknown): SipSettingsChange {
    const v = validateSettingsChange(this.ctx.config, body);
    if (!v.ok) throw new BadRequestException(v.errors);
    const { applied, restartRequired } = applySettings(this.ctx.config, this.sip, v.next, v.changed);
    if (v.changed.length > 0) {
      const value = (k: string) => {
        const [section, name] = k.split('.') as ['sip' | 'registrar', string];
        return (v.next[section] as Record<string, unknown>)[name];
      };
      this.ctx.logging
        .group('oam')
        .info({ applied: Object.fromEntries(applied.map((k) => [k, value(k)])), restartRequired: Object.fromEntries(restartRequired.map((k) => [k, value(k)])) }, 'SIP settings changed');
    }
    return { applied, restartRequired, settings: this.get() };
  }
}
