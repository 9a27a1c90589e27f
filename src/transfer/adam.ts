import * as tf from '@tensorflow/tfjs';

/**
 * Adam over all trainable variables at once. tfjs's AdamOptimizer spends ~13 backend ops per
 * variable per step; for a small head that per-op overhead, not arithmetic, is the cost of a
 * step. Here the gradients are concatenated into one vector so the moment updates run once, and
 * the bias corrections are folded into two JS numbers. Elementwise, it is the same update as
 * `tf.train.adam(learningRate)`:
 *   w -= lr · m̂ / (√v̂ + ε)  ⇔  w -= lrₜ · m / (√v + ε̂),  lrₜ = lr·√(1−β₂ᵗ)/(1−β₁ᵗ), ε̂ = ε·√(1−β₂ᵗ).
 */
/** Up to this many variables, each is updated on its own instead of through one flat vector. */
const PER_VARIABLE_MAX = 2;

/**
 * Up to this many parameters in all, the update runs in JS on host copies of the weights: each
 * step reads the gradients back and uploads the new weights, no backend op at all. A small
 * head's update otherwise costs ~30 backend ops a step, whose fixed cost (and the JIT warm-up of
 * the code behind them, most of a fresh process's first epoch) exceeds the arithmetic; the host
 * loop over 5,700 parameters takes ~0.05 ms. Large heads keep the backend update.
 */
export const HOST_UPDATE_MAX_PARAMS = 32768;

/** Host copies of the weights and moments (host mode), one flat array each. */
interface HostState {
  w: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

export class FlatAdam {
  /** The moments: one flat pair, or (per-variable mode) one pair per variable. */
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];
  /**
   * The variables' values, concatenated: one subtraction updates them all, then each variable
   * takes its slice. Valid because only this optimizer writes the variables while it runs.
   * Undefined in per-variable mode.
   */
  private readonly flat?: tf.Variable;
  private readonly sizes: number[];
  private readonly host?: HostState;
  /** β₁, 1−β₁, β₂, 1−β₂ as backend scalars, uploaded once rather than every step. */
  private readonly constants: tf.Scalar[];
  private step = 0;

  constructor(
    private readonly variables: tf.Variable[],
    private readonly learningRate: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly epsilon = 1e-7,
  ) {
    this.sizes = variables.map((w) => w.size);
    const total = this.sizes.reduce((a, b) => a + b, 0);
    // With one or two variables (a Dense(units) head: kernel and bias) the concat, split and
    // reshapes cost more than a second chain of moment updates would (wasm, [9216, 10] kernel:
    // 0.93 ms vs 0.55 ms a step), so each variable gets its own moments and update.
    if (total <= HOST_UPDATE_MAX_PARAMS) {
      const w = new Float32Array(total);
      let at = 0;
      for (const variable of variables) {
        w.set(variable.dataSync() as Float32Array, at);
        at += variable.size;
      }
      this.host = { w, m: new Float32Array(total), v: new Float32Array(total) };
      this.m = [];
      this.v = [];
    } else if (variables.length <= PER_VARIABLE_MAX) {
      this.m = variables.map((w) => tf.tidy(() => tf.variable(tf.zerosLike(w), false)));
      this.v = variables.map((w) => tf.tidy(() => tf.variable(tf.zerosLike(w), false)));
    } else {
      this.m = [tf.tidy(() => tf.variable(tf.zeros([total]), false))];
      this.v = [tf.tidy(() => tf.variable(tf.zeros([total]), false))];
      this.flat = tf.tidy(() => tf.variable(tf.concat(variables.map((w) => tf.reshape(w, [-1]))), false));
    }
    this.constants = [beta1, 1 - beta1, beta2, 1 - beta2].map((c) => tf.scalar(c));
  }

  /** One step from gradients given in the order of `variables` (null: no gradient, treated as zero). */
  apply(grads: (tf.Tensor | null)[]): void {
    this.step++;
    const correction2 = Math.sqrt(1 - this.beta2 ** this.step);
    const rate = (this.learningRate * correction2) / (1 - this.beta1 ** this.step);
    const epsilon = this.epsilon * correction2;
    if (this.host) {
      this.applyOnHost(this.host, grads, rate, epsilon);
      return;
    }
    const [b1, oneMinusB1, b2, oneMinusB2] = this.constants;
    // The same elementwise expressions in both modes, so both give the same values.
    const update = (w: tf.Tensor, m: tf.Variable, v: tf.Variable, g: tf.Tensor): tf.Tensor => {
      const m1 = tf.add(tf.mul(m, b1), tf.mul(g, oneMinusB1));
      const v1 = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), oneMinusB2));
      m.assign(m1);
      v.assign(v1);
      return tf.sub(w, tf.mul(tf.div(m1, tf.add(tf.sqrt(v1), epsilon)), rate));
    };
    if (!this.flat) {
      tf.tidy(() => {
        this.variables.forEach((w, i) => {
          const d = grads[i];
          // No gradient: treated as zero, as in flat mode.
          w.assign(update(w, this.m[i], this.v[i], d ?? tf.zerosLike(w)));
        });
      });
      return;
    }
    const flat = this.flat;
    tf.tidy(() => {
      // Reshapes are backend ops too: skip them for what is already a vector (biases).
      const g = tf.concat(grads.map((d, i) => (!d ? tf.zeros([this.sizes[i]]) : d.rank === 1 ? d : tf.reshape(d, [-1]))));
      const updated = update(flat, this.m[0], this.v[0], g);
      flat.assign(updated);
      const parts = this.variables.length === 1 ? [updated] : tf.split(updated, this.sizes);
      this.variables.forEach((w, i) => w.assign(w.rank === 1 ? parts[i] : tf.reshape(parts[i], w.shape)));
    });
  }

  /**
   * The same update in JS, rounding to float32 after every operation as the backend's separate
   * float32 kernels do (products and sums of float32 values, and √ and ÷, computed in doubles
   * and rounded once, are the correctly rounded float32 results), so both give the same bits.
   */
  private applyOnHost(host: HostState, grads: (tf.Tensor | null)[], rate: number, epsilon: number): void {
    const b1 = Math.fround(this.beta1), c1 = Math.fround(1 - this.beta1);
    const b2 = Math.fround(this.beta2), c2 = Math.fround(1 - this.beta2);
    const lr = Math.fround(rate);
    const eps = Math.fround(epsilon);
    const { w, m, v } = host;
    const updated: tf.Tensor[] = [];
    let at = 0;
    for (let k = 0; k < this.variables.length; k++) {
      const size = this.sizes[k];
      const grad = grads[k];
      const g = grad ? (grad.dataSync() as Float32Array) : new Float32Array(size);
      for (let i = 0; i < size; i++) {
        const j = at + i;
        const gi = g[i];
        const mj = Math.fround(Math.fround(m[j] * b1) + Math.fround(gi * c1));
        const vj = Math.fround(Math.fround(v[j] * b2) + Math.fround(Math.fround(gi * gi) * c2));
        m[j] = mj;
        v[j] = vj;
        w[j] = Math.fround(w[j] - Math.fround(Math.fround(mj / Math.fround(Math.fround(Math.sqrt(vj)) + eps)) * lr));
      }
      // A copy: a backend may keep the array it is given (cpu does), and w changes every step.
      const value = tf.tensor(w.slice(at, at + size), this.variables[k].shape, 'float32');
      this.variables[k].assign(value);
      updated.push(value);
      at += size;
    }
    // The variables hold the new values; the upload tensors themselves are not needed.
    tf.dispose(updated);
  }

  dispose(): void {
    tf.dispose([...this.m, ...this.v, ...(this.flat ? [this.flat] : []), ...this.constants]);
  }
}
