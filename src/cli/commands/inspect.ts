import type { Command } from 'commander';
import { escapeUnprintable, printable } from '../../errors';
import { inspectReader } from '../../convert/inspect';
import { openWeights } from '../../formats';
import { bytesText, shapeText, table } from '../format';
import { printJson, printOut, runCommand } from '../run';

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('List the tensors of a weight file: name, dtype, shape, bytes')
    .argument('<file>', 'weight file (.npy .npz .safetensors .pt .pth .bin .onnx .h5 .keras model.json, or a TF checkpoint prefix)')
    .option('--json', 'print {"format", "tensors": [{"name", "dtype", "shape", "bytes"}]} as JSON')
    .option('--key <key>', 'for nested PyTorch checkpoints: the key holding the state dict')
    .action((file: string, opts: { json?: boolean; key?: string }) =>
      runCommand(async () => {
        const reader = await openWeights(file, { key: opts.key });
        try {
          const tensors = reader.list();
          if (opts.json) {
            printJson(inspectReader(reader), 2);
            return;
          }
          const total = tensors.reduce((s, t) => s + t.byteSize, 0);
          const lines = [
            `${escapeUnprintable(file)}: ${reader.format}${exporterText(reader.metadata?.exporter) ?? (reader.convention ? ` (${reader.convention} names)` : '')}, ${tensors.length} tensors, ${bytesText(total)}${reader.topology ? ', with model topology' : ''}`,
            table(tensors.map((t) => [printable(t.name, 200), t.dtype, shapeText(t.shape), bytesText(t.byteSize)]), ['name', 'dtype', 'shape', 'bytes']),
          ];
          const ops = reader.opSummary?.();
          if (ops?.length) {
            const refused = ops.filter((o) => !o.buildable);
            lines.push(`graph ops (${refused.length ? `graft cannot build ${refused.map((o) => o.op).join(', ')}` : 'graft can build a tfjs model from them: convert without --target'}):`);
            lines.push(table(ops.map((o) => [printable(o.op), String(o.count), o.buildable ? 'yes' : 'no', printable(o.firstNode, 120)]), ['op', 'count', 'buildable', 'first node']));
          }
          printOut(lines.join('\n'));
        } finally {
          await reader.close();
        }
      }),
    );
}

/** ONNX files: which exporter's naming graft reads them under. */
function exporterText(exporter: unknown): string | undefined {
  if (exporter === 'cntk') return ' (written by CNTK: no layer names)';
  if (exporter === 'keras2onnx' || exporter === 'tf2onnx') return ` (written by ${exporter}: Keras layer names)`;
  if (exporter === 'pytorch') return ' (written by torch.onnx: torch names)';
  return undefined;
}
