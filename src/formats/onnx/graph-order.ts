import type { OnnxNode } from '../../topology/onnx/ir';

/**
 * The graph's nodes in topological order: every node after the nodes producing its inputs, ties
 * kept in stored order. ONNX requires stored order to be topological, but not every writer
 * complies, and pairing layers "in order" must follow the data, not the file. Iterative (no
 * recursion depth to exhaust), linear in nodes + edges; a cycle (damage) is broken where met.
 */
export function topologicalOrder(nodes: readonly OnnxNode[]): OnnxNode[] {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => n.output.forEach((o) => o && !producer.has(o) && producer.set(o, i)));
  const state = new Uint8Array(nodes.length); // 0 unvisited, 1 in progress, 2 done
  const out: OnnxNode[] = [];
  for (let start = 0; start < nodes.length; start++) {
    if (state[start]) continue;
    const stack: [number, number][] = [[start, 0]];
    state[start] = 1;
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [i, next] = top;
      const inputs = nodes[i].input;
      if (next < inputs.length) {
        top[1]++;
        const p = inputs[next] ? producer.get(inputs[next]) : undefined;
        if (p !== undefined && state[p] === 0) {
          state[p] = 1;
          stack.push([p, 0]);
        }
        continue;
      }
      stack.pop();
      state[i] = 2;
      out.push(nodes[i]);
    }
  }
  return out;
}
