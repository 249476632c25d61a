import { Injectable } from '@nestjs/common';

/**
 * Live figures shown on the Server Status page. Each feature binds its own
 * source when it starts (calls bind the call counts, the cluster binds the
 * master address and global calls, ...); a figure nobody provides reads as
 * zero or empty, never invented.
 */
export interface StatusFigures {
  mediaEngineVersion: () => string | null;
  mediaEngines: () => { configured: number; connected: number };
  connectedClients: () => number;
  localCurrentCalls: () => number;
  globalCurrentCalls: () => number;
  masterServerAddress: () => string | null;
}

@Injectable()
export class StatusSources {
  private figures: StatusFigures = {
    mediaEngineVersion: () => null,
    mediaEngines: () => ({ configured: 0, connected: 0 }),
    connectedClients: () => 0,
    localCurrentCalls: () => 0,
    globalCurrentCalls: () => this.figures.localCurrentCalls(),
    masterServerAddress: () => null,
  };

  bind<K extends keyof StatusFigures>(name: K, source: StatusFigures[K]): void {
    this.figures = { ...this.figures, [name]: source };
  }

  read<K extends keyof StatusFigures>(name: K): ReturnType<StatusFigures[K]> {
    return this.figures[name]() as ReturnType<StatusFigures[K]>;
  }
}
