import * as tf from '@tensorflow/tfjs';
import { currentBackend, initBackend } from '../backend';
import { GraftError } from '../errors';
import { permute } from '../transforms/layout';
import { ArrayData, readNpyArray, shapeString } from './arrays';
import { loadWeightedModel } from './model-file';

export interface VerifyOptions {
  /** A tfjs layers-model: model.json or its folder. */
  model: string;
  /** Input .npy. */
  input: string;
  /** Expected output .npy (say, the source framework's own output for the same input). */
  expect: string;
  /** Largest absolute error allowed (default 1e-4). */
  atol?: number;
  /** Input and expected output are channels-first (PyTorch's NCHW, NCL, NCDHW). */
  channelsFirst?: boolean;
}

export interface VerifyResult {
  maxAbsError: number;
  /** Index of the worst element, in the layout of the expected file. */
  at: number[];
  output: number;
  expected: number;
  /** Elements whose error exceeds atol. */
  over: number;
  total: number;
  atol: number;
  ok: boolean;
  backend: string | undefined;
}

export const DEFAULT_ATOL = 1e-4;

/** Channels-first → channels-last axes for rank ≥ 3 ([N, C, …] → [N, …, C]); identity below. */
export function toChannelsLast(rank: number): number[] {
  if (rank < 3) return Array.from({ length: rank }, (_, i) => i);
  return [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2), 1];
}

/** Channels-last → channels-first ([N, …, C] → [N, C, …]). */
export function toChannelsFirst(rank: number): number[] {
  if (rank < 3) return Array.from({ length: rank }, (_, i) => i);
  return [0, rank - 1, ...Array.from({ length: rank - 2 }, (_, i) => i + 1)];
}

function permuteArray(a: ArrayData, perm: number[]): ArrayData {
  if (perm.every((p, i) => p === i)) return a;
  return { data: permute(a.data, a.shape, perm), shape: perm.map((p) => a.shape[p]) };
}

function fits(shape: readonly number[], expected: readonly (number | null)[]): boolean {
  return shape.length === expected.length && expected.every((d, i) => d === null || d === shape[i]);
}

/** Multi-index of a flat C-order offset. */
function unravel(offset: number, shape: readonly number[]): number[] {
  const at = new Array<number>(shape.length);
  for (let k = shape.length - 1; k >= 0; k--) {
    at[k] = offset % shape[k];
    offset = Math.floor(offset / shape[k]);
  }
  return at;
}

/**
 * Runs a layers-model on an input and compares its output with an expected one, element by
 * element. With channelsFirst the input is moved to channels-last before predicting and the
 * output back to channels-first, so indices refer to the expected file.
 */
export async function verifyModel(options: VerifyOptions): Promise<VerifyResult> {
  const atol = options.atol ?? DEFAULT_ATOL;
  if (!(atol >= 0) || !Number.isFinite(atol)) throw new GraftError('USAGE', `--atol must be a non-negative number, not ${atol}`);
  await initBackend();
  const input = readNpyArray(options.input, '--input');
  const expected = readNpyArray(options.expect, '--expect');
  const { model } = await loadWeightedModel(options.model);
  try {
    if (model.inputs.length !== 1 || model.outputs.length !== 1) {
      throw new GraftError('UNSUPPORTED', `verify handles models with one input and one output (this one has ${model.inputs.length} and ${model.outputs.length})`, { file: options.model });
    }
    const inputShape = model.inputs[0].shape;
    const x = options.channelsFirst ? permuteArray(input, toChannelsLast(input.shape.length)) : input;
    if (!fits(x.shape, inputShape)) {
      const other = options.channelsFirst ? input.shape : permuteArray(input, toChannelsLast(input.shape.length)).shape;
      const hint = input.shape.length >= 3 && fits(other, inputShape) ? (options.channelsFirst ? ' (it fits without --channels-first)' : ' (it fits channels-first: add --channels-first)') : '';
      throw new GraftError('SHAPE_MISMATCH', `--input has shape ${shapeString(input.shape)}${options.channelsFirst ? `, ${shapeString(x.shape)} channels-last,` : ''} but the model takes ${shapeString(inputShape)}${hint}`, { file: options.input });
    }
    const dtype = model.inputs[0].dtype === 'int32' ? 'int32' : 'float32';
    const outData = tf.tidy(() => {
      const y = model.predict(tf.tensor(x.data, x.shape, dtype), { batchSize: 32 }) as tf.Tensor;
      return { data: y.dataSync() as Float32Array, shape: y.shape.slice() };
    });
    const out = options.channelsFirst ? permuteArray(outData, toChannelsFirst(outData.shape.length)) : outData;
    if (out.shape.join() !== expected.shape.join()) {
      throw new GraftError('SHAPE_MISMATCH', `the model's output has shape ${shapeString(out.shape)}${options.channelsFirst && out.shape.length >= 3 ? ' (channels-first)' : ''} but --expect holds ${shapeString(expected.shape)}`, { file: options.expect });
    }
    let worst = 0;
    let worstAt = 0;
    let over = 0;
    for (let i = 0; i < out.data.length; i++) {
      const a = out.data[i];
      const b = expected.data[i];
      // NaN on one side only is an infinite error; NaN on both sides agrees.
      const d = Number.isNaN(a) || Number.isNaN(b) ? (Number.isNaN(a) && Number.isNaN(b) ? 0 : Infinity) : Math.abs(a - b);
      if (d > atol) over++;
      if (d > worst) {
        worst = d;
        worstAt = i;
      }
    }
    return {
      maxAbsError: worst,
      at: unravel(worstAt, expected.shape),
      output: out.data[worstAt],
      expected: expected.data[worstAt],
      over,
      total: out.data.length,
      atol,
      ok: over === 0,
      backend: currentBackend(),
    };
  } finally {
    model.dispose();
  }
}
