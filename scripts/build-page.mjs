// Copies the converter page (src/web/page/) into dist/web/, beside the graft bundle (graft.js).
// Part of `npm run build`; the page needs no compiling: plain HTML, CSS and an ES module.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const from = join(root, 'src', 'web', 'page');
const to = join(root, 'dist', 'web');
mkdirSync(to, { recursive: true });
const files = readdirSync(from).filter((f) => /\.(html|css|js)$/.test(f));
for (const f of files) copyFileSync(join(from, f), join(to, f));
console.log(`build-page: ${files.join(', ')} -> dist/web/`);
