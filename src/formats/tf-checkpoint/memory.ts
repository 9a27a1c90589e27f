import { GraftError } from '../../errors';

/**
 * TensorFlow checkpoints on a volume in memory (a browser page, convertInMemory). The reader
 * finds a checkpoint by its prefix, folder and sibling files on disk; in memory graft does not
 * read them yet, and says so instead of calling the files unknown.
 */

const CHECKPOINT_NAME = /(\.index|\.data-\d{5,}-of-\d{5,})$/;

/** A checkpoint in memory is known only by its file names. */
export function sniffCheckpointName(path: string): boolean {
  return CHECKPOINT_NAME.test(path);
}

export function refuseCheckpointInMemory(path: string): never {
  throw new GraftError('UNSUPPORTED', 'TensorFlow checkpoints are read from disk only; convert them with the graft CLI', { file: path });
}
