import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { CONTENT_SECURITY_POLICY, startWebServer } from '../src/cli/web-server';
import { GraftError } from '../src/errors';
import { tempDir } from './helpers/temp';

/** `graft web`'s static server: its folder and nothing else, on 127.0.0.1, with a same-origin CSP. */

function tempSite(): { dir: string; root: string } {
  const dir = tempDir('graft-web-');
  const root = path.join(dir, 'web');
  fs.mkdirSync(path.join(root, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(root, 'index.html'), '<!doctype html><title>t</title>');
  fs.writeFileSync(path.join(root, 'app.js'), 'export {};');
  fs.writeFileSync(path.join(root, 'graft.js'), 'export {};');
  fs.writeFileSync(path.join(root, 'tfjs-backend-wasm.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
  fs.writeFileSync(path.join(root, 'sub', 'index.html'), 'sub');
  fs.writeFileSync(path.join(root, 'worker.js'), 'export {};');
  fs.writeFileSync(path.join(root, 'sub', 'worker.js'), 'export {};');
  fs.writeFileSync(path.join(dir, 'secret.txt'), 'SECRET');
  fs.symlinkSync(path.join(dir, 'secret.txt'), path.join(root, 'link.txt'));
  return { dir, root };
}

/** A raw GET: the path is sent exactly as given (no client-side normalisation of `..`). */
function get(port: number, rawPath: string, host = `127.0.0.1:${port}`, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: rawPath, method, headers: { host } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('serves its folder with the right types and a same-origin CSP; port 0 picks a free port', async () => {
  const { root } = tempSite();
  const web = await startWebServer({ root, port: 0 });
  try {
    assert.ok(web.port > 0);
    assert.equal(web.url, `http://127.0.0.1:${web.port}/`);
    const index = await get(web.port, '/');
    assert.equal(index.status, 200);
    assert.equal(index.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(index.body.toString(), '<!doctype html><title>t</title>');
    const csp = String(index.headers['content-security-policy']);
    assert.equal(csp, CONTENT_SECURITY_POLICY);
    assert.match(csp, /default-src 'self'/);
    assert.doesNotMatch(csp, /\*|https?:|unsafe-inline|'unsafe-eval'/);
    assert.equal(index.headers['x-content-type-options'], 'nosniff');
    assert.equal((await get(web.port, '/app.js')).headers['content-type'], 'text/javascript; charset=utf-8');
    const wasm = await get(web.port, '/tfjs-backend-wasm.wasm');
    assert.equal(wasm.headers['content-type'], 'application/wasm');
    assert.deepEqual([...wasm.body], [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
    assert.equal((await get(web.port, '/sub/')).body.toString(), 'sub');
    // The page's worker (where graft decodes ONNX) gets the same policy: it evaluates no code either.
    const worker = String((await get(web.port, '/worker.js')).headers['content-security-policy']);
    assert.equal(worker, CONTENT_SECURITY_POLICY);
    assert.doesNotMatch(worker, /'unsafe-eval'/);
    assert.equal((await get(web.port, '/app.js?v=1')).status, 200);
    const head = await get(web.port, '/app.js', undefined, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal((await get(web.port, '/app.js', undefined, 'POST')).status, 405);
    assert.equal((await get(web.port, '/nope.js')).status, 404);
  } finally {
    await web.close();
  }
});

test('never serves outside its folder: .., encoded .., backslashes, NUL, absolute paths, symlinks out, other Host names', async () => {
  const { root } = tempSite();
  const web = await startWebServer({ root, port: 0 });
  try {
    for (const p of ['/../secret.txt', '/%2e%2e/secret.txt', '/sub/..%2f..%2fsecret.txt', '/..%5csecret.txt', '/%2e%2e%5csecret.txt', '/app.js%00.html', '//etc/passwd', '/%2fetc%2fpasswd', '/link.txt', '/%E0%A4%A']) {
      const r = await get(web.port, p);
      assert.equal(r.status, 404, p);
      assert.doesNotMatch(r.body.toString(), /SECRET|root:/, p);
    }
    assert.equal((await get(web.port, '/', `localhost:${web.port}`)).status, 200);
    // DNS rebinding: a page of another site whose name resolves to 127.0.0.1.
    assert.equal((await get(web.port, '/', 'evil.example:80')).status, 421);
  } finally {
    await web.close();
  }
});

test('listens on 127.0.0.1 only', async () => {
  const { root } = tempSite();
  const web = await startWebServer({ root, port: 0 });
  try {
    assert.equal((web.server.address() as { address: string }).address, '127.0.0.1');
  } finally {
    await web.close();
  }
});

test('one clear error when the page is not built or the port is taken', async () => {
  const { dir, root } = tempSite();
  await assert.rejects(startWebServer({ root: path.join(dir, 'missing'), port: 0 }), (e: unknown) => e instanceof GraftError && /not built \(no index\.html, no graft\.js\); run npm run build first$/.test(e.message));
  fs.rmSync(path.join(root, 'graft.js'));
  await assert.rejects(startWebServer({ root, port: 0 }), (e: unknown) => e instanceof GraftError && /not built \(no graft\.js\); run npm run build first$/.test(e.message));
  fs.writeFileSync(path.join(root, 'graft.js'), 'export {};');
  const first = await startWebServer({ root, port: 0 });
  try {
    await assert.rejects(startWebServer({ root, port: first.port }), (e: unknown) => e instanceof GraftError && e.message === `port ${first.port} on 127.0.0.1 is already in use; choose another with --port (0 picks a free one)`);
  } finally {
    await first.close();
  }
  await assert.rejects(startWebServer({ root, port: 70000 }), /--port must be a whole number/);
});

test('graft web --port 0 prints the URL, serves the page, and exits 0 on Ctrl-C (SIGINT)', { skip: !fs.existsSync(path.join(__dirname, '..', 'dist', 'web', 'index.html')) && 'dist/web is not built (npm run build)' }, async () => {
  const cli = path.join(__dirname, '..', 'src', 'cli', 'main.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', cli, 'web', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL printed: ${out}`)), 20_000);
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[0]);
        }
      });
      child.once('exit', () => reject(new Error(`exited early: ${out}`)));
    });
    const port = Number(new URL(url).port);
    const page = await get(port, '/');
    assert.equal(page.status, 200);
    assert.match(page.body.toString(), /<title>graft/);
    const code = await new Promise<number | null>((resolve) => {
      child.once('exit', (c) => resolve(c));
      child.kill('SIGINT');
    });
    assert.equal(code, 0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test('graft web: a bad --port or a taken port is one line on stderr and exit 2', { skip: !fs.existsSync(path.join(__dirname, '..', 'dist', 'web', 'index.html')) && 'dist/web is not built (npm run build)' }, async () => {
  const cli = path.join(__dirname, '..', 'src', 'cli', 'main.ts');
  const run = (args: string[]) => new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', cli, 'web', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('exit', (code) => resolve({ code, stderr }));
  });
  const bad = await run(['--port', 'http']);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr, 'graft: --port must be a whole number from 0 to 65535, not "http"\n');
  const blocker = http.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
  try {
    const port = (blocker.address() as { port: number }).port;
    const taken = await run(['--port', String(port)]);
    assert.equal(taken.code, 2);
    assert.equal(taken.stderr, `graft: port ${port} on 127.0.0.1 is already in use; choose another with --port (0 picks a free one)\n`);
  } finally {
    blocker.close();
  }
});
