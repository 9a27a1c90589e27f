import * as tf from '@tensorflow/tfjs';

/**
 * Adam over all trainable variables at once. tfjs's AdamOptimizer spends ~13 backend ops per
 * variable per step; for a small head that per-op overhead, not arithmetic, is the cost of a
 * step. Here the gradients are concatenated into one vector so the moment updates run once, and
 * the bias corrections are folded into two JS numbers. Elementwise, it is the same update as
 * `tf.train.adam(learningRate)`:
 *   w -= lr · m̂ / (√v̂ + ε)  ⇔  w -= lrₜ · m / (√v + ε̂),  lrₜ = lr·√(1−β₂ᵗ)/(1−β₁ᵗ), ε̂ = ε·√(1−β₂ᵗ).
 */
export class FlatAdam {
  private readonly m: tf.Variable;
  private readonly v: tf.Variable;
  private readonly sizes: number[];
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
    this.m = tf.variable(tf.zeros([total]), false);
    this.v = tf.variable(tf.zeros([total]), false);
  }

  /** One step from gradients given in the order of `variables` (null: no gradient, treated as zero). */
  apply(grads: (tf.Tensor | null)[]): void {
    this.step++;
    const correction2 = Math.sqrt(1 - this.beta2 ** this.step);
    const rate = (this.learningRate * correction2) / (1 - this.beta1 ** this.step);
    const epsilon = this.epsilon * correction2;
    tf.tidy(() => {
      const g = tf.concat(grads.map((d, i) => (d ? tf.reshape(d, [-1]) : tf.zeros([this.sizes[i]]))));
      const m = tf.add(tf.mul(this.m, this.beta1), tf.mul(g, 1 - this.beta1));
      const v = tf.add(tf.mul(this.v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
      this.m.assign(m);
      this.v.assign(v);
      const delta = tf.mul(tf.div(m, tf.add(tf.sqrt(v), epsilon)), rate);
      const parts = this.variables.length === 1 ? [delta] : tf.split(delta, this.sizes);
      this.variables.forEach((w, i) => w.assign(tf.sub(w, tf.reshape(parts[i], w.shape))));
    });
  }

  dispose(): void {
    this.m.dispose();
    this.v.dispose();
  }
}
