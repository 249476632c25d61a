import type { RoleModules } from '@traverse/runtime';
import { NodeClusterModule } from '@traverse/cluster';
import { SignalingModule } from './signaling.module';
import { MediaEngineModule } from '../../media-engine/src/media-engine.module';

/** The Nest modules of each role. */
export const nodeModules: RoleModules = (roles) => [
  NodeClusterModule,
  ...(roles.includes('signaling') ? [SignalingModule] : []),
  ...(roles.includes('media-engine') ? [MediaEngineModule] : []),
];
