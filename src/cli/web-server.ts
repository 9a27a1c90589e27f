import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { GraftError } from '../errors';

/**
 * The static server behind `graft web`: it hands out the built converter page (`dist/web`) on
 * 127.0.0.1 only. The page converts everything in the browser, so the server never receives a
 * file; it serves its own folder and nothing else, and tells the browser (CSP) to fetch from no
 * other origin.
 */

/** Where `npm run build` puts the page: `<package>/dist/web`, found from src/cli or dist/cli alike. */
export const DEFAULT_WEB_ROOT = path.resolve(__dirname, '..', '..', 'dist', 'web');

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/**
 * Same origin only. blob: for downloads and the workers/URLs the page makes from its own bytes,
 * data: for inline wasm/images some bundled libraries use, 'wasm-unsafe-eval' to compile wasm.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self' blob:",
  "connect-src 'self' blob: data:",
  "img-src 'self' blob: data:",
  "style-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export interface WebServerOptions {
  /** Port to listen on; 0 picks a free one. */
  port?: number;
  /** Folder to serve (default DEFAULT_WEB_ROOT). */
  root?: string;
}

export interface RunningWebServer {
  url: string;
  port: number;
  server: http.Server;
  close(): Promise<void>;
}

/** Starts the server; fails with one clear line when the page is not built or the port is taken. */
export async function startWebServer(options: WebServerOptions = {}): Promise<RunningWebServer> {
  const port = options.port ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new GraftError('USAGE', `--port must be a whole number from 0 to 65535, not ${JSON.stringify(options.port)}`);
  const requested = path.resolve(options.root ?? DEFAULT_WEB_ROOT);
  const missing = ['index.html', 'graft.js'].filter((f) => !fs.existsSync(path.join(requested, f)));
  if (missing.length) {
    throw new GraftError('NOT_FOUND', `${requested}: the converter page is not built (no ${missing.join(', no ')}); run npm run build first`);
  }
  // Compare real paths: a symlink inside the folder must not lead outside it.
  const root = fs.realpathSync(requested);
  const server = http.createServer((req, res) => serve(root, req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE') reject(new GraftError('USAGE', `port ${port} on 127.0.0.1 is already in use; choose another with --port (0 picks a free one)`));
      else if (e.code === 'EACCES') reject(new GraftError('USAGE', `port ${port} on 127.0.0.1 needs privileges; choose another with --port (0 picks a free one)`));
      else reject(e);
    });
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actual = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${actual}/`,
    port: actual,
    server,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

function send(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...SECURITY_HEADERS });
  res.end(text);
}

const SECURITY_HEADERS = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

/** The file a request names, or undefined when it names nothing inside `root`. */
export function resolveInside(root: string, urlPath: string): string | undefined {
  let pathname: string;
  try {
    pathname = decodeURIComponent(new URL(urlPath, 'http://x').pathname);
  } catch {
    return undefined;
  }
  if (pathname.includes('\0') || pathname.includes('\\')) return undefined;
  if (pathname.endsWith('/')) pathname += 'index.html';
  const file = path.resolve(root, `.${pathname}`);
  if (file !== root && !file.startsWith(root + path.sep)) return undefined;
  let real: string;
  try {
    real = fs.realpathSync(file);
  } catch {
    return undefined;
  }
  if (!real.startsWith(root + path.sep)) return undefined;
  return fs.statSync(real).isFile() ? real : undefined;
}

function serve(root: string, req: http.IncomingMessage, res: http.ServerResponse): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    send(res, 405, 'method not allowed\n');
    return;
  }
  // A page on another site may resolve its own name to 127.0.0.1 (DNS rebinding): only our names.
  const host = (req.headers.host ?? '').replace(/:\d+$/, '');
  if (host !== '127.0.0.1' && host !== 'localhost') {
    send(res, 421, 'this server answers only to 127.0.0.1\n');
    return;
  }
  const file = resolveInside(root, req.url ?? '/');
  if (!file) {
    send(res, 404, 'not found\n');
    return;
  }
  const type = MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
  const size = fs.statSync(file).size;
  // One policy for the page and its worker: graft's protobuf decoding evaluates no code (no 'unsafe-eval').
  res.writeHead(200, { 'Content-Type': type, 'Content-Length': size, ...SECURITY_HEADERS, 'Content-Security-Policy': CONTENT_SECURITY_POLICY });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  fs.createReadStream(file).on('error', () => res.destroy()).pipe(res);
}
