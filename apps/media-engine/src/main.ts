// A media-engine-only process: the same node as apps/signaling, with node.roles
// defaulting to media-engine (TRAVERSE_NODE__ROLES or the config file may still say otherwise).
import 'reflect-metadata';
import { runNodeProcess } from '@traverse/runtime';
import { NodeClusterModule } from '@traverse/cluster';
import { MediaEngineModule } from './media-engine.module';

process.env.TRAVERSE_NODE__ROLES ??= 'media-engine';
runNodeProcess((roles) => [NodeClusterModule, ...(roles.includes('media-engine') ? [MediaEngineModule] : [])]);
