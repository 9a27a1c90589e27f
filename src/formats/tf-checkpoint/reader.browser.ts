import type { FormatHandler } from '../types';
import { refuseCheckpointInMemory, sniffCheckpointName } from './memory';

/**
 * The browser bundle's stand-in for reader.ts (which needs Node's fs to find a checkpoint's
 * siblings): checkpoints are recognised by name and refused with a clear error.
 */
export const tfCheckpointFormat: FormatHandler = {
  format: 'tf-checkpoint',
  extensions: ['.index'],
  sniff: (_head, p) => sniffCheckpointName(p),
  open: async (p) => refuseCheckpointInMemory(p),
};
