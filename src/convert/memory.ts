import { GraftError } from '../errors';
import { openWeights } from '../formats';
import { MemoryVolume } from '../io/volume';
import { MappingTable, parseMappingTable } from '../mapping/table';
import { MemorySink, writeLayersModelTo } from '../output/writer';
import type { ManifestWeight } from '../topology/model-json';
import { ConvertReport, runConversion } from './index';
import { InspectResult, inspectReader } from './inspect';
import { checkOptions, ConvertOptions } from './options';

/**
 * The library on files held in memory (a browser page, a web app): convert() and `graft inspect`
 * over bytes instead of paths. The files go into a MemoryVolume of their own for each call, the
 * readers work on it exactly as on disk, and the output is written by the same code into a
 * MemorySink, so the bytes equal the CLI's for the same inputs.
 *
 * A Blob/File is read whole into memory first (`arrayBuffer()`): the readers are synchronous.
 */

/** A file held in memory: a browser File/Blob (with a name), or bytes with a name. */
export type MemoryFile = File | (Blob & { name: string }) | { name: string; data: Uint8Array | ArrayBuffer | Blob };

export interface ConvertInMemoryOptions extends Omit<ConvertOptions, 'source' | 'out' | 'target' | 'map' | 'force' | 'backend'> {
  source: MemoryFile;
  /** Files the source refers to by name: tfjs/safetensors shards, ONNX external data. */
  companions?: MemoryFile[];
  /** Target model.json: a file, or its parsed JSON. Absent when the source carries topology (Keras .h5/.keras, ONNX graph). */
  target?: MemoryFile | Record<string, unknown>;
  /** Mapping table: a file (JSON/YAML) or parsed object. */
  map?: MemoryFile | Record<string, unknown>;
}

export interface ConvertedModel {
  /** The report the CLI prints (assigned/missing/unused/skipped with each transform). */
  report: ConvertReport;
  /** Exactly the model.json the CLI writes (empty for a dry run). */
  modelJson: Record<string, unknown>;
  /** 'model.json' then the shards, byte-identical to the CLI's folder (none for a dry run). */
  files: { name: string; data: Uint8Array }[];
  /** modelJson.weightsManifest[0].weights. */
  weightSpecs: ManifestWeight[];
  /** All shards back to back (the shards in `files` are views into it), for tf.io.fromMemory. */
  weightData: ArrayBuffer;
}

function isMemoryFile(x: unknown): x is MemoryFile {
  if (typeof Blob !== 'undefined' && x instanceof Blob) return true;
  return typeof x === 'object' && x !== null && typeof (x as { name?: unknown }).name === 'string' && 'data' in x;
}

async function bytesOf(file: MemoryFile): Promise<Uint8Array> {
  const data = 'data' in file ? file.data : file;
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (typeof Blob !== 'undefined' && data instanceof Blob) return new Uint8Array(await data.arrayBuffer());
  throw new GraftError('USAGE', 'holds neither bytes (Uint8Array, ArrayBuffer) nor a Blob', { file: nameOf(file) });
}

function nameOf(file: MemoryFile): string {
  const name = (file as { name?: unknown }).name;
  if (typeof name !== 'string' || !name) throw new GraftError('USAGE', 'a file given in memory has no name (give { name, data })');
  return name;
}

/** Puts a file into the volume; its name is its base name (a browser gives no folders). */
async function addFile(volume: MemoryVolume, file: MemoryFile): Promise<string> {
  return volume.add(nameOf(file), await bytesOf(file));
}

async function volumeWith(source: MemoryFile, companions: MemoryFile[] = []): Promise<{ volume: MemoryVolume; source: string }> {
  const volume = new MemoryVolume();
  const name = await addFile(volume, source);
  for (const c of companions) await addFile(volume, c);
  return { volume, source: name };
}

/** A name no file in the volume has, for a target or table given as parsed JSON. */
function freeName(volume: MemoryVolume, wanted: string): string {
  const taken = new Set(volume.names());
  let name = wanted;
  for (let i = 2; taken.has(name); i++) name = `${i}-${wanted}`;
  return name;
}

async function mappingTable(map: ConvertInMemoryOptions['map']): Promise<MappingTable | undefined> {
  if (map === undefined) return undefined;
  // Through the same parser as a table file: a parsed object is checked exactly as its JSON text.
  if (isMemoryFile(map)) return parseMappingTable(new TextDecoder('utf-8').decode(await bytesOf(map)), nameOf(map));
  return parseMappingTable(JSON.stringify(map), 'mapping table');
}

/**
 * convert() on files held in memory: the same checks, plan, report and errors (GraftError; the
 * CLI's one line is formatError(e)), and the same model.json and shards, returned as bytes.
 */
export async function convertInMemory(o: ConvertInMemoryOptions): Promise<ConvertedModel> {
  const { volume, source } = await volumeWith(o.source, o.companions);
  let target: string | undefined;
  if (o.target !== undefined) {
    target = isMemoryFile(o.target)
      ? await addFile(volume, o.target)
      : volume.add(freeName(volume, 'model.json'), new TextEncoder().encode(JSON.stringify(o.target)));
  }
  const options: ConvertOptions = { ...o, source, target, map: await mappingTable(o.map) };
  const checked = checkOptions(options, false);
  const sink = new MemorySink();
  let modelJson: Record<string, unknown> = {};
  const report = await runConversion(options, checked, {
    volume,
    write: async (model, weights, writeOptions) => {
      const written = await writeLayersModelTo(sink, model, weights, writeOptions);
      modelJson = written.modelJson as unknown as Record<string, unknown>;
      return written;
    },
  });
  // Shards come first out of the writer; the CLI's list (report.files) starts with model.json.
  const files = [...sink.files.filter((f) => f.name === 'model.json'), ...sink.files.filter((f) => f.name !== 'model.json')];
  const manifest = (modelJson.weightsManifest as { weights: ManifestWeight[] }[] | undefined) ?? [];
  return { report, modelJson, files, weightSpecs: manifest[0]?.weights ?? [], weightData: sink.weightData };
}

/** What `graft inspect --json` shows for a file held in memory (format, tensors, topology, metadata, ops). */
export async function inspectInMemory(source: MemoryFile, companions?: MemoryFile[], options: { key?: string } = {}): Promise<InspectResult> {
  const { volume, source: name } = await volumeWith(source, companions);
  const reader = await openWeights(name, { key: options.key, volume });
  try {
    return inspectReader(reader);
  } finally {
    await reader.close();
  }
}

export type { InspectResult };
