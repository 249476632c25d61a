import { BadRequestException, Body, Controller, Get, Inject, NotFoundException, Param, Put, Query, Res, StreamableFile } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiProperty, ApiQuery, ApiTags } from '@nestjs/swagger';
import { createReadStream } from 'node:fs';
import { createGzip } from 'node:zlib';
import type { Response } from 'express';
import { z } from 'zod';
import { LOG_GROUPS, LOG_LEVELS } from '@traverse/config';
import { NODE_CONTEXT, type NodeContext } from '@traverse/runtime';

export class LoggingSettings {
  @ApiProperty({ enum: LOG_LEVELS, description: 'Level of logged messages' }) level!: string;
  @ApiProperty({ enum: LOG_GROUPS, isArray: true, description: 'Log groups excluded from the log' }) excludeGroups!: string[];
}

export class LoggingPage extends LoggingSettings {
  @ApiProperty({ enum: LOG_GROUPS, isArray: true, description: 'Every log group' }) groups!: string[];
}

export class LogFileEntry {
  @ApiProperty() name!: string;
  @ApiProperty({ description: 'Bytes' }) size!: number;
  @ApiProperty({ description: 'Last written (ISO 8601)' }) modified!: string;
  @ApiProperty({ description: '1 = the most recent file' }) index!: number;
}

const settingsBody = z
  .object({
    level: z.enum(LOG_LEVELS),
    excludeGroups: z.array(z.enum(LOG_GROUPS)).default([]),
  })
  .strict();

/** The Logging page: level, excluded groups, and the current log files to download. */
@ApiTags('logging')
@Controller('api')
export class LoggingController {
  constructor(@Inject(NODE_CONTEXT) private readonly ctx: NodeContext) {}

  @Get('logging')
  @ApiOkResponse({ type: LoggingPage })
  settings(): LoggingPage {
    const s = this.ctx.logging.settings;
    return { level: s.level, excludeGroups: s.excludeGroups, groups: [...LOG_GROUPS] };
  }

  @Put('logging')
  @ApiBody({ type: LoggingSettings })
  @ApiOkResponse({ type: LoggingPage, description: 'Applied at once; not kept across a restart (set log.level in the configuration for that).' })
  set(@Body() body: unknown): LoggingPage {
    const parsed = settingsBody.safeParse(body);
    if (!parsed.success) {
      throw new BadRequestException(parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`));
    }
    this.ctx.logging.configure(parsed.data.level, parsed.data.excludeGroups);
    this.ctx.logging.group('oam').info({ level: parsed.data.level, excludeGroups: parsed.data.excludeGroups }, 'log settings changed');
    return this.settings();
  }

  @Get('logs')
  @ApiOkResponse({ type: LogFileEntry, isArray: true, description: 'Current log files, most recent first' })
  files(): LogFileEntry[] {
    return this.ctx.logging.files();
  }

  @Get('logs/:name')
  @ApiQuery({ name: 'zip', required: false, description: 'gzip the file (for slow connections)' })
  @ApiOkResponse({ description: 'The log file (JSON lines), or gzipped with zip=1' })
  download(@Param('name') name: string, @Query('zip') zip: string | undefined, @Res({ passthrough: true }) res: Response): StreamableFile {
    const path = this.ctx.logging.filePath(name);
    if (!path) throw new NotFoundException(`no log file named ${name}`);
    if (zip === '1' || zip === 'true') {
      res.setHeader('Content-Type', 'application/gzip');
      res.setHeader('Content-Disposition', `attachment; filename="${name}.gz"`);
      return new StreamableFile(createReadStream(path).pipe(createGzip()));
    }
    res.setHeader('Content-Type', 'application/x-ndjson');
    res.setHeader('Content-Disposition', `attachment; filename="${name}"`);
    return new StreamableFile(createReadStream(path));
  }
}
