import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROMETHEUS_CONTENT_TYPE } from './prometheus';

const pageDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'page');
// uPlot from node_modules, served by the stack itself: no CDN, no build step.
const uplotDir = path.join(path.dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');

const STATIC: Readonly<Record<string, [file: string, type: string]>> = {
  '/': [path.join(pageDir, 'index.html'), 'text/html; charset=utf-8'],
  '/dashboard': [path.join(pageDir, 'index.html'), 'text/html; charset=utf-8'],
  '/page/dashboard.js': [path.join(pageDir, 'dashboard.js'), 'text/javascript; charset=utf-8'],
  '/page/dashboard.css': [path.join(pageDir, 'dashboard.css'), 'text/css; charset=utf-8'],
  '/vendor/uPlot.iife.min.js': [path.join(uplotDir, 'uPlot.iife.min.js'), 'text/javascript; charset=utf-8'],
  '/vendor/uPlot.min.css': [path.join(uplotDir, 'uPlot.min.css'), 'text/css; charset=utf-8'],
};

/**
 * Event data is hostile input: the page writes it as text only, and this policy keeps any script but the page's
 * own from running should that ever slip (no inline script, no other origin).
 */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/**
 * The control server listens on loopback only; a page elsewhere could still reach it through a DNS name that
 * resolves to 127.0.0.1 (DNS rebinding). Its requests carry that name as Host: only loopback names are served.
 */
export function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : (host.split(':')[0] ?? '');
  return name === '127.0.0.1' || name === 'localhost' || name === '[::1]';
}

export interface ObservabilityRoutes {
  metricsText: () => Promise<string>;
  /** Takes over the response: an SSE stream until the client goes or the stack stops. */
  live: (req: IncomingMessage, res: ServerResponse) => void;
}

/** `GET /`, `/dashboard`, the page's files, `/metrics` and `/live`; false for any other request. */
export function serveObservability(req: IncomingMessage, res: ServerResponse, routes: ObservabilityRoutes): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const { pathname } = new URL(req.url ?? '/', 'http://localhost');
  const file = STATIC[pathname];
  if (!file && pathname !== '/metrics' && pathname !== '/live') return false;
  if (!isLoopbackHost(req.headers.host)) {
    res.writeHead(403, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ message: 'Forbidden: the control server answers loopback host names only' }));
    return true;
  }
  if (pathname === '/live') {
    routes.live(req, res);
    return true;
  }
  const answer = (body: Promise<string | Buffer>, type: string, headers: Record<string, string> = {}) =>
    body.then(
      (content) => {
        res.writeHead(200, { 'content-type': type, ...headers });
        res.end(req.method === 'HEAD' ? undefined : content);
      },
      (error: Error) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: error.message }));
      },
    );
  if (pathname === '/metrics')
    void answer(routes.metricsText(), PROMETHEUS_CONTENT_TYPE, { 'cache-control': 'no-store' });
  else if (file) void answer(readFile(file[0]), file[1], PAGE_HEADERS);
  return true;
}
