#!/usr/bin/env node
/**
 * Builds the browser bundle: src/web/entry.ts → dist/web/graft.js, an ES module holding graft and
 * tfjs (core, layers, cpu backend), plus graft-chunk-*.js, h5wasm's in-memory build, which
 * graft.js imports only when it reads an HDF5 file. `npm run build` runs it after tsc.
 *
 * Node-only modules are swapped for their browser variants: wherever `src/…/x.browser.ts` sits
 * beside `x.ts`, the bundle takes it instead (no disk, no temp files, no zlib, no tfjs-node). The
 * build FAILS when anything would still import a Node built-in (fs, path, os, process, zlib,
 * child_process, crypto, …), from graft or from a dependency, and when any import is left
 * external, or when graft's bundled sources use Node's globals (Buffer, process, __dirname): a
 * bundle that would break in a browser is never written.
 *
 * Usage: node scripts/build-web.mjs [--out dist/web] [--quiet] [--no-minify] [--entry src/web/entry.ts] [--analyze]
 */
import * as esbuild from 'esbuild';
import { builtinModules } from 'node:module';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const outDir = path.resolve(root, args.includes('--out') ? args[args.indexOf('--out') + 1] : 'dist/web');
const quiet = args.includes('--quiet');
const entry = path.resolve(root, args.includes('--entry') ? args[args.indexOf('--entry') + 1] : 'src/web/entry.ts');
const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;

const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
const isBuiltin = (spec) => builtins.has(spec) || builtins.has(spec.split('/')[0]) || spec.startsWith('node:');

/** `x.ts` → `x.browser.ts` when that file exists (graft's own sources only). */
const browserVariants = {
  name: 'graft-browser-variants',
  setup(build) {
    const src = path.join(root, 'src') + path.sep;
    build.onResolve({ filter: /^\./ }, (a) => {
      if (!a.importer.startsWith(src)) return undefined;
      const base = path.resolve(a.resolveDir, a.path);
      for (const candidate of [`${base}.browser.ts`, path.join(base, 'index.browser.ts')]) {
        if (fs.existsSync(candidate)) return { path: candidate };
      }
      return undefined;
    });
  },
};

/**
 * Node built-ins are refused wherever they are imported from. A dependency's own `browser` field
 * may map a built-in away (to an empty module): esbuild applies that mapping first, and then the
 * import is not a built-in any more; what is left reaching here is a real use.
 */
const noNodeBuiltins = {
  name: 'graft-no-node-builtins',
  setup(build) {
    build.onResolve({ filter: /.*/ }, async (a) => {
      if (!isBuiltin(a.path) || a.pluginData?.checked) return undefined;
      // What esbuild itself makes of it: a package's browser field may disable the module.
      const r = await build.resolve(a.path, { kind: a.kind, importer: a.importer, resolveDir: a.resolveDir, pluginData: { checked: true } });
      // esbuild answers a module the importer's package disabled with no namespace: an empty module.
      if (r.errors.length === 0 && !r.external && r.namespace === '') return { path: a.path, namespace: 'disabled-by-browser-field' };
      const who = path.relative(root, a.importer) || a.importer;
      return { errors: [{ text: `Node built-in '${a.path}' imported by ${who}: the browser bundle must not use Node (give the module a .browser.ts variant)` }] };
    });
    build.onLoad({ filter: /.*/, namespace: 'disabled-by-browser-field' }, () => ({ contents: 'module.exports = {};', loader: 'js' }));
  },
};

/**
 * Node's globals are no imports, so the check above cannot see them: graft's own sources in the
 * bundle must not touch `Buffer`, `process`, `__dirname` or `__filename` (a browser has none; the
 * code would fail only when it runs). Comments are ignored; `typeof x` guards are allowed.
 */
const noNodeGlobals = {
  name: 'graft-no-node-globals',
  setup(build) {
    const src = path.join(root, 'src') + path.sep;
    build.onLoad({ filter: /\.ts$/ }, async (a) => {
      if (!a.path.startsWith(src) && a.path !== entry) return undefined;
      const text = await fs.promises.readFile(a.path, 'utf8');
      // Comments blanked (keeping line breaks, for line numbers).
      const code = text.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' ')).replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
      const errors = [];
      code.split('\n').forEach((line, i) => {
        for (const m of line.matchAll(/(?<![\w$.]|typeof\s)\b(Buffer|process|__dirname|__filename)\b(?!\s*:)/g)) {
          errors.push({ text: `uses Node's global '${m[1]}', which a browser lacks (use a .browser.ts variant or plain JS)`, location: { file: a.path, line: i + 1, lineText: line } });
        }
      });
      return errors.length ? { errors } : { contents: text, loader: 'ts' };
    });
  },
};

/**
 * One tfjs, and only the parts graft uses (src/web/tfjs.ts: core, layers, cpu backend). graft's
 * sources both `require('@tensorflow/tfjs')` (CommonJS, for Node) and `import` it; left alone,
 * esbuild would take the package's Node build for the first and its ES modules for the second:
 * two tfjs engines in one page.
 */
const oneTfjs = {
  name: 'graft-one-tfjs',
  setup(build) {
    build.onResolve({ filter: /^@tensorflow\/tfjs$/ }, () => ({ path: path.join(root, 'src/web/tfjs.ts') }));
  },
};

const started = Date.now();
fs.mkdirSync(outDir, { recursive: true });
// Chunks of an earlier build (their names carry content hashes) would pile up.
for (const f of fs.readdirSync(outDir)) if (/^graft-chunk-.*\.js$/.test(f) || f === 'graft.js') fs.rmSync(path.join(outDir, f));
let result;
try {
  result = await esbuild.build({
    entryPoints: { graft: entry },
    outdir: outDir,
    // h5wasm (5.6 MB of the 6.8, its wasm inlined) loads as its own file, only when an HDF5
    // file is read: a page converting .pt or .safetensors never downloads it.
    splitting: true,
    chunkNames: 'graft-chunk-[hash]',
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: !args.includes('--no-minify'),
    sourcemap: false,
    metafile: true,
    logLevel: 'silent',
    // tsconfig's CommonJS settings do not apply to the bundle.
    tsconfigRaw: { compilerOptions: { target: 'es2022' } },
    define: { GRAFT_VERSION: JSON.stringify(version), 'process.env.NODE_ENV': '"production"' },
    plugins: [browserVariants, oneTfjs, noNodeBuiltins, noNodeGlobals],
  });
} catch (e) {
  const messages = e.errors?.map((m) => `${m.location ? `${path.relative(root, path.resolve(root, m.location.file))}:${m.location.line}: ` : ''}${m.text}`) ?? [String(e)];
  console.error(`build-web: failed\n${messages.join('\n')}`);
  process.exit(1);
}

if (!quiet && result.warnings.length) {
  for (const w of result.warnings) console.warn(`build-web: warning: ${w.location ? `${w.location.file}:${w.location.line}: ` : ''}${w.text}`);
}

// Nothing may stay external: an unresolved import would fail in the page at load time.
// (The outputs' imports: an input's type-only imports are listed as external but never emitted.)
const outputs = Object.keys(result.metafile.outputs).map((f) => path.resolve(root, f));
const leftOut = Object.values(result.metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => `${i.kind} ${i.path}`));
if (leftOut.length) {
  console.error(`build-web: imports left outside the bundle:\n${leftOut.join('\n')}`);
  for (const f of outputs) fs.rmSync(f, { force: true });
  process.exit(1);
}

// The package is CommonJS; this folder's .js files are ES modules (for Node tools that load them).
fs.writeFileSync(path.join(outDir, 'package.json'), '{ "type": "module" }\n');
const sizeOf = (f) => {
  const b = fs.readFileSync(f);
  return { file: path.basename(f), bytes: b.length, gzipBytes: gzipSync(b, { level: 9 }).length };
};
const files = outputs.filter((f) => f.endsWith('.js')).map(sizeOf);
const main = files.find((f) => f.file === 'graft.js');
const sizes = { bytes: main.bytes, gzipBytes: main.gzipBytes, totalBytes: files.reduce((s, f) => s + f.bytes, 0), totalGzipBytes: files.reduce((s, f) => s + f.gzipBytes, 0) };
fs.writeFileSync(path.join(outDir, 'graft.meta.json'), JSON.stringify({ version, ...sizes, files, inputs: Object.keys(result.metafile.inputs).length }, null, 2));
if (args.includes('--analyze')) {
  // Where the bytes come from, by package (or graft's src/): what to trim first.
  const byPart = new Map();
  for (const [file, o] of Object.values(result.metafile.outputs).flatMap((out) => Object.entries(out.inputs))) {
    const part = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(file)?.[1] ?? file.split('/').slice(0, 2).join('/');
    byPart.set(part, (byPart.get(part) ?? 0) + o.bytesInOutput);
  }
  for (const [part, bytes] of [...byPart].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`${String(bytes).padStart(10)}  ${part}`);
}
if (!quiet) {
  const mib = (n) => `${(n / 1048576).toFixed(2)} MiB`;
  for (const f of files) console.log(`build-web: ${path.relative(root, path.join(outDir, f.file))} ${mib(f.bytes)} (gzip ${mib(f.gzipBytes)})`);
  console.log(`build-web: ${Object.keys(result.metafile.inputs).length} modules in ${Date.now() - started} ms`);
}
