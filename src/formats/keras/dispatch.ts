import { GraftError } from '../../errors';
import { printable, readHead } from '../../io/bytes';
import { Hdf5File, hdf5MagicOffset, sniffHdf5 } from '../../io/hdf5';
import { isObject, Json } from '../../io/json';
import { removeTemp } from '../../io/temp';
import type { Volume } from '../../io/volume';
import { MAX_JSON_BYTES } from '../../io/budget';
import type { ZipArchive as ZipArchiveType } from '../../io/zip';
import { startsWith } from '../registry';
import type { FormatHandler, OpenOptions, WeightReader } from '../types';
import { extractToTemp } from './extract';
import { KerasH5Reader } from './h5';
import { Keras3Reader } from './keras3';

/**
 * Which Keras reader a file needs, whichever Keras wrote it: a `.keras` zip (Keras 3, or a legacy
 * HDF5 inside one), a legacy Keras 2 HDF5 (`KerasH5Reader`), or Keras 3 `.weights.h5`
 * (`Keras3Reader`). The two readers know nothing of each other; only this file knows both.
 */

/** Which Keras HDF5 layout a file uses, from its root groups and attributes. */
export function kerasHdf5Layout(h5: Hdf5File): 'legacy' | 'keras3' | undefined {
  const keys = h5.keys('/');
  if (keys.includes('model_weights') || h5.attr('/', 'layer_names') !== undefined || h5.attr('/', 'layer_names0') !== undefined) return 'legacy';
  if (keys.includes('layers') || keys.includes('_layer_checkpoint_dependencies') || keys.includes('vars')) return 'keras3';
  // A Keras 3 subclassed model's weights sit under attribute names (conv1/vars/0, …).
  if (keys.some((k) => h5.kind(`${k}/vars`) === 'group')) return 'keras3';
  return undefined;
}

/** Opens any Keras HDF5 weight file, whichever Keras wrote it. */
export async function openKerasHdf5(path: string, volume?: Volume): Promise<WeightReader> {
  const h5 = await Hdf5File.open(path, path, volume);
  try {
    const layout = kerasHdf5Layout(h5);
    if (layout === 'legacy') return KerasH5Reader.fromHdf5(path, h5);
    if (layout === 'keras3') return Keras3Reader.fromWeightsH5(path, h5, undefined, undefined);
    throw new GraftError('UNKNOWN_FORMAT', 'is an HDF5 file but not a Keras one (no model_weights group, layer_names attribute or Keras 3 layers group)', { file: path });
  } catch (e) {
    h5.close();
    throw e;
  }
}

export const kerasH5Format: FormatHandler = {
  format: 'keras-h5',
  extensions: ['.h5', '.hdf5', '.keras'],
  sniff(head: Uint8Array, path: string, volume?: Volume): boolean {
    return !path.toLowerCase().endsWith('.weights.h5') && sniffHdf5(head, path, volume);
  },
  open(path: string, options?: OpenOptions): Promise<WeightReader> {
    return openKerasHdf5(path, options?.volume);
  },
};

/**
 * Opens a `.keras` zip: reads its JSON members and extracts the weights to a private file, or,
 * for a zip held in memory, reads them into memory.
 */
export async function openKerasZip(filePath: string, volume?: Volume): Promise<WeightReader> {
  // Loaded here: plain .h5 files (the common case) need no zip reader or inflater.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { ZipArchive } = require('../../io/zip') as { ZipArchive: typeof ZipArchiveType };
  const zip = ZipArchive.open(filePath, volume);
  let tempDir: string | undefined;
  try {
    const readJson = (member: string, required: boolean): Json | undefined => {
      const entry = zip.entry(member);
      if (!entry) {
        if (required) throw new GraftError('CORRUPT', `.keras archive has no '${member}'`, { file: filePath });
        return undefined;
      }
      try {
        // Size checked before inflating, depth on the text before parsing (budget.ts).
        const parsed: unknown = zip.readJson(entry, MAX_JSON_BYTES);
        if (!isObject(parsed)) throw new Error('not a JSON object');
        return parsed;
      } catch (e) {
        if (e instanceof GraftError) throw e;
        throw new GraftError('CORRUPT', `'${member}' is not valid JSON (${printable((e as Error).message)})`, { file: filePath });
      }
    };
    const config = readJson('config.json', true);
    const metadata = readJson('metadata.json', false) ?? {};
    const weights = zip.entry('model.weights.h5');
    if (!weights) throw new GraftError('CORRUPT', ".keras archive has no 'model.weights.h5'", { file: filePath });
    // Its first bytes must say HDF5 before anything is inflated or written to disk.
    if (hdf5MagicOffset(zip.read(weights, 8)) !== 0) {
      throw new GraftError('CORRUPT', ".keras member 'model.weights.h5' is not an HDF5 file (no HDF5 signature at its start)", { file: filePath });
    }
    // Errors name the archive member the user knows, not the private temporary copy.
    const shownAs = `${filePath} (member model.weights.h5)`;
    let h5: Hdf5File;
    if (volume?.kind === 'memory') {
      h5 = await Hdf5File.openBytes(zip.read(weights), shownAs);
    } else {
      const extracted = extractToTemp(zip, weights, 'model.weights.h5');
      tempDir = extracted.tempDir;
      h5 = await Hdf5File.open(extracted.file, shownAs);
    }
    try {
      if (kerasHdf5Layout(h5) === 'legacy') {
        // A .keras zip holding a legacy HDF5 inside: read it as such.
        const reader = KerasH5Reader.fromHdf5(filePath, h5);
        return withCleanup(reader, tempDir);
      }
      return Keras3Reader.fromWeightsH5(filePath, h5, config, { metadata, tempDir });
    } catch (e) {
      h5.close();
      throw e;
    }
  } catch (e) {
    if (tempDir) removeTemp(tempDir);
    throw e;
  } finally {
    zip.close();
  }
}

function withCleanup(reader: WeightReader, tempDir: string | undefined): WeightReader {
  if (!tempDir) return reader;
  const close = reader.close.bind(reader);
  Object.defineProperty(reader, 'close', {
    value: async () => {
      await close();
      removeTemp(tempDir);
    },
  });
  return reader;
}

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
const KERAS_MEMBERS = ['metadata.json', 'config.json', 'model.weights.h5', 'assets/', 'variables.h5'];

/** True for a zip whose first member is one Keras writes (the name sits at offset 30). */
function looksLikeKerasZip(head: Uint8Array): boolean {
  if (!startsWith(head, ZIP_MAGIC) || head.length < 30) return false;
  const nameLength = head[26] | (head[27] << 8);
  const name = new TextDecoder().decode(head.subarray(30, Math.min(head.length, 30 + nameLength)));
  return KERAS_MEMBERS.some((m) => name === m || name.startsWith(m));
}

export async function openKeras3(filePath: string, volume?: Volume): Promise<WeightReader> {
  let head: Uint8Array;
  try {
    head = readHead(filePath, 512, volume);
  } catch (e) {
    throw e instanceof GraftError ? e : new GraftError('NOT_FOUND', 'cannot be read', { file: filePath });
  }
  if (startsWith(head, ZIP_MAGIC)) return openKerasZip(filePath, volume);
  // Not a zip: an HDF5 file, whichever Keras wrote it (a `.keras` name does not make it a zip).
  return openKerasHdf5(filePath, volume);
}

export const keras3Format: FormatHandler = {
  format: 'keras3',
  extensions: ['.keras', '.weights.h5'],
  sniff(head: Uint8Array, filePath: string, volume?: Volume): boolean {
    if (looksLikeKerasZip(head)) return true;
    if (startsWith(head, ZIP_MAGIC)) return filePath.toLowerCase().endsWith('.keras');
    return filePath.toLowerCase().endsWith('.weights.h5') && sniffHdf5(head, filePath, volume);
  },
  open(filePath: string, options?: OpenOptions): Promise<WeightReader> {
    return openKeras3(filePath, options?.volume);
  },
};
