import { setFlagsFromString } from 'v8';

/**
 * Imported first by the CLI, before any other module, so it acts before the heap grows. A
 * conversion streams: it makes few JS objects, all short-lived, and V8 growing its young
 * generation from 1 to 4 MiB semispaces only raised peak memory, by 1–3 MiB, more at 1 GiB than at
 * 256 MiB as those pages got touched (scripts/bench-convert.ts). Other commands (finetune trains
 * with tfjs, which makes many objects) keep V8's default. Library users' processes are not touched.
 */
if (process.argv.slice(2).find((a) => !a.startsWith('-')) === 'convert') setFlagsFromString('--semi-space-growth-factor=1');
