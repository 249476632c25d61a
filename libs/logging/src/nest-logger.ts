import type { LoggerService } from '@nestjs/common';
import type { GroupLogger } from './logging';

function text(message: unknown): string {
  return typeof message === 'string' ? message : message instanceof Error ? message.message : JSON.stringify(message);
}

/** Nest's own messages go to a log group; routine framework chatter is logged at 'config'. */
export class NestLogAdapter implements LoggerService {
  constructor(private readonly out: GroupLogger) {}
  log(message: unknown, context?: string): void {
    this.out.config({ context }, text(message));
  }
  error(message: unknown, stack?: string, context?: string): void {
    this.out.severe({ context, stack }, text(message));
  }
  warn(message: unknown, context?: string): void {
    this.out.warning({ context }, text(message));
  }
  debug(message: unknown, context?: string): void {
    this.out.fine({ context }, text(message));
  }
  verbose(message: unknown, context?: string): void {
    this.out.finer({ context }, text(message));
  }
  fatal(message: unknown, context?: string): void {
    this.out.severe({ context }, text(message));
  }
}
