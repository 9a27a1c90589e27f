/**
 * The import graph of src/: no cycles, and data flows one way (README, "Architecture"):
 * bytes (io/) and topology/ below the readers (formats/), which never reach up into the plan
 * (mapping/), the writer (output/), convert/ or the CLI. Lazy `require('…')` calls count as imports.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';

const SRC = path.join(__dirname, '..', 'src');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) return sourceFiles(p);
    return d.name.endsWith('.ts') ? [p] : [];
  });
}

/** Resolves a relative specifier the way tsc/node do for this project (file.ts or folder/index.ts). */
function resolve(from: string, spec: string): string | undefined {
  const base = path.resolve(path.dirname(from), spec);
  for (const candidate of [`${base}.ts`, path.join(base, 'index.ts')]) if (fs.existsSync(candidate)) return candidate;
  return undefined;
}

/** Every src/ module another src/ module imports: `import … from`, `export … from`, `import('…')`, `require('…')`. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const pattern = /(?:\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"](\.[^'"]*)['"]/gm;
  for (const file of sourceFiles(SRC)) {
    const text = fs.readFileSync(file, 'utf8');
    const deps = new Set<string>();
    for (const m of text.matchAll(pattern)) {
      const target = resolve(file, m[1]);
      if (target && target.startsWith(SRC)) deps.add(target);
    }
    graph.set(file, [...deps]);
  }
  return graph;
}

const rel = (p: string) => path.relative(SRC, p);

/** Every cycle a depth-first walk meets, as `a → b → a`. */
function findCycles(graph: Map<string, string[]>, name: (p: string) => string = rel): string[] {
  const state = new Map<string, 'active' | 'done'>();
  const cycles: string[] = [];
  const visit = (file: string, trail: string[]): void => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'active') {
      cycles.push([...trail.slice(trail.indexOf(file)), file].map(name).join(' → '));
      return;
    }
    state.set(file, 'active');
    for (const dep of graph.get(file) ?? []) visit(dep, [...trail, file]);
    state.set(file, 'done');
  };
  for (const file of graph.keys()) visit(file, []);
  return cycles;
}

test('src/ has no import cycle', () => {
  const graph = importGraph();
  assert.ok(graph.size > 50, 'the walk found the sources');
  assert.deepEqual(findCycles(graph), []);
});

test('the cycle check finds a cycle when there is one', () => {
  const id = (p: string) => p;
  assert.deepEqual(findCycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']]]), id), ['a → b → c → a']);
  assert.deepEqual(findCycles(new Map([['a', ['b', 'c']], ['b', ['c']], ['c', []]]), id), []);
});

test('readers and byte access never import the plan, the writer, convert or the CLI', () => {
  const graph = importGraph();
  const lower = ['io', 'formats', 'topology'];
  const upper = ['mapping', 'output', 'convert', 'cli', 'transfer'];
  const bad: string[] = [];
  for (const [file, deps] of graph) {
    const layer = rel(file).split(path.sep)[0];
    if (!lower.includes(layer)) continue;
    for (const dep of deps) {
      const depLayer = rel(dep).split(path.sep)[0];
      if (upper.includes(depLayer)) bad.push(`${rel(file)} imports ${rel(dep)}`);
    }
  }
  assert.deepEqual(bad, []);
});

test('topology/ sits below the readers: it never imports formats/', () => {
  const graph = importGraph();
  const bad: string[] = [];
  for (const [file, deps] of graph) {
    if (rel(file).split(path.sep)[0] !== 'topology') continue;
    for (const dep of deps) if (rel(dep).split(path.sep)[0] === 'formats') bad.push(`${rel(file)} imports ${rel(dep)}`);
  }
  assert.deepEqual(bad, []);
});

test('io/ imports nothing above it except errors', () => {
  const graph = importGraph();
  const bad: string[] = [];
  for (const [file, deps] of graph) {
    if (rel(file).split(path.sep)[0] !== 'io') continue;
    for (const dep of deps) {
      const r = rel(dep);
      if (!r.startsWith(`io${path.sep}`) && r !== 'errors.ts') bad.push(`${rel(file)} imports ${r}`);
    }
  }
  assert.deepEqual(bad, []);
});

test('the check sees a lazy require and an `export … from`', () => {
  const graph = importGraph();
  const formatsIndex = graph.get(path.join(SRC, 'formats', 'index.ts')) ?? [];
  assert.ok(formatsIndex.includes(path.join(SRC, 'formats', 'keras', 'dispatch.ts')), 'formats/index.ts requires keras/dispatch lazily');
  assert.ok(formatsIndex.includes(path.join(SRC, 'formats', 'registry.ts')));
});

test('the plan, the transforms and the layer catalogue are pure: no file system, no tfjs', () => {
  const pure = [
    ...sourceFiles(path.join(SRC, 'mapping')),
    ...sourceFiles(path.join(SRC, 'transforms')),
    ...['catalogue.ts', 'shapes.ts', 'walk.ts', 'variables.ts'].map((f) => path.join(SRC, 'topology', f)),
  ];
  const bad: string[] = [];
  for (const file of pure) {
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:\bfrom\s+|\brequire\s*\(\s*)['"]([^'"]+)['"]/g)) {
      if (/^(fs|path|os|child_process|worker_threads|zlib)$|^@tensorflow\//.test(m[1])) bad.push(`${rel(file)} imports ${m[1]}`);
    }
  }
  assert.ok(pure.length >= 10, `${pure.length} files`);
  assert.deepEqual(bad, []);
});
