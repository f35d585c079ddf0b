// The web app's files (built by `npm run build:web` into dist/web): index.html for `/` and for a
// review's address `/review/<session id>` (the app routes in the page), other files by path. Only
// GET and HEAD; nothing outside the directory; hashed assets cached for good, the page never.
import { createReadStream, existsSync, statSync } from 'node:fs';
import type { EdgeRequest, EdgeResponse } from './edge-server.js';
import { extname, join, normalize, sep } from 'node:path';

const TYPES = new Map([
  ['.html', 'text/html; charset=utf-8'],
  ['.js', 'text/javascript; charset=utf-8'],
  ['.mjs', 'text/javascript; charset=utf-8'],
  ['.css', 'text/css; charset=utf-8'],
  ['.json', 'application/json'],
  ['.map', 'application/json'],
  ['.svg', 'image/svg+xml'],
  ['.png', 'image/png'],
  ['.ico', 'image/x-icon'],
  ['.woff2', 'font/woff2'],
  ['.txt', 'text/plain; charset=utf-8'],
]);

/** The page may talk to its own origin only; CodeMirror sets inline styles. */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** Page addresses the app handles itself (index.html is served for them). */
const APP_ROUTE = /^\/(review\/[^/]+\/?)?$/;

export class WebAssets {
  constructor(private readonly root: string) {}

  get built(): boolean {
    return existsSync(join(this.root, 'index.html'));
  }

  /** Answers a request for the web app; false when it is not one (then the caller answers 404). */
  serve(req: EdgeRequest, res: EdgeResponse): boolean {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://edge').pathname);
    } catch {
      return false;
    }
    if (APP_ROUTE.test(path)) {
      if (!this.built) {
        res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS });
        res.end('The web app is not built: run `npm run build:web` (npm start does it).\n');
        return true;
      }
      return this.send(req, res, join(this.root, 'index.html'), 'no-cache');
    }
    const file = normalize(join(this.root, path));
    if (!file.startsWith(this.root.endsWith(sep) ? this.root : this.root + sep)) return false;
    const immutable = path.startsWith('/assets/');
    return this.send(req, res, file, immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
  }

  private send(req: EdgeRequest, res: EdgeResponse, file: string, cacheControl: string): boolean {
    let size: number;
    try {
      const stat = statSync(file);
      if (!stat.isFile()) return false;
      size = stat.size;
    } catch {
      return false;
    }
    res.writeHead(200, {
      'content-type': TYPES.get(extname(file)) ?? 'application/octet-stream',
      'content-length': size,
      'cache-control': cacheControl,
      ...SECURITY_HEADERS,
    });
    if (req.method === 'HEAD') res.end();
    else
      createReadStream(file)
        .on('error', () => res.destroy())
        .pipe(res);
    return true;
  }
}
