// The traverse node. Runs the signaling role, the media-engine role, or both in one
// process (the single-node default), as node.roles says.
import 'reflect-metadata';
import { runNodeProcess } from '@traverse/runtime';
import { nodeModules } from './node-modules';

runNodeProcess(nodeModules);
