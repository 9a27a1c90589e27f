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
    if (variables.length <= PER_VARIABLE_MAX) {
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

  dispose(): void {
    tf.dispose([...this.m, ...this.v, ...(this.flat ? [this.flat] : []), ...this.constants]);
  }
}
