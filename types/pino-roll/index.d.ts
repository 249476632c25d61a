declare module 'pino-roll' {
  import type { DestinationStream } from 'pino';
  interface RollStream extends DestinationStream {
    end(): void;
    once(ev: string, f: () => void): void;
    flushSync?(): void;
  }
  function build(options: Record<string, unknown>): Promise<RollStream>;
  export default build;
}
