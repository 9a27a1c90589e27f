import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import '../src/layers';
import { initBackend } from '../src/backend';
import { openWeights } from '../src/formats';
import { modelFromTopology, targetVariables } from '../src/topology/live-model';
import { resolvePairs } from '../src/topology/onnx-graph';
import { planGraft } from '../src/mapping/plan';
import { EMPTY_TABLE } from '../src/mapping/table';
import { assignPlan, assertPlanUsable } from '../src/convert/assign';
import { readNpy, permuted, maxAbsDiff } from '../test/helpers/models';

async function main() {
  await initBackend();
  const root = process.argv[2];
  const names = process.argv.slice(3);
  for (const name of names.length ? names : fs.readdirSync(root).sort()) {
    const dir = path.join(root, name);
    try {
      const info = JSON.parse(fs.readFileSync(path.join(dir, 'case.json'), 'utf8'));
      const reader = await openWeights(path.join(dir, 'model.onnx'));
      const t0 = Date.now();
      const built = reader.buildTopology!({});
      const t1 = Date.now();
      const model = await modelFromTopology(built.topology);
      const targets = targetVariables(model);
      const table = { ...EMPTY_TABLE, tensors: resolvePairs(built.pairs, targets) };
      const plan = planGraft(reader.list(), targets, { convention: 'torch', table });
      assertPlanUsable(plan, dir);
      await assignPlan(model, reader, plan);
      const x = permuted(readNpy(path.join(dir, 'input.npy'), info.inputDtype), info.inputPerm);
      const y = permuted(readNpy(path.join(dir, 'output.npy')), info.outputPerm);
      const got = tf.tidy(() => (model.predict(tf.tensor(x.data, x.shape, info.inputDtype)) as tf.Tensor).dataSync());
      let maxY = 0; for (const v of y.data) maxY = Math.max(maxY, Math.abs(v));
      const err = maxAbsDiff(got, y.data);
      console.log(`${name}: err ${err.toExponential(2)} tol ${(1e-4 * Math.max(1, maxY)).toExponential(2)} ${err <= 1e-4 * Math.max(1, maxY) ? 'OK' : 'FAIL'} layers ${model.layers.length} missing ${plan.missing.length} unused ${plan.unused.length} build ${t1 - t0}ms`);
      await reader.close();
    } catch (e) {
      console.log(`${name}: ERROR ${(e as Error).message.split('\n')[0]}`);
      if (process.env.DEBUG) console.log((e as Error).stack);
    }
  }
}
main();
