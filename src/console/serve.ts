// The web console's front-end (issue 14): plain files of src/console/public (HTML, ES
// modules, one style sheet; no build step, nothing from another host) served at
// /console. The page calls the same origin's API with its session cookie
// (/console/session) and opens the stream (/v1/stream) on the same host.
import path from 'node:path';
import express, { Router, type RequestHandler } from 'express';
import helmet from 'helmet';
import { documented } from '../http/openapi.js';
import { projectFile } from '../paths.js';

/** From src/ (tsx) or the image's dist/ alike: the files ship as they are, under the project root. */
const PUBLIC_DIR = projectFile(path.join('src', 'console', 'public'));

/** What a browser may fetch: the page's own scripts, style sheet and icons, by name (no folders, no dot files). */
const SERVED = /^[a-z0-9][a-z0-9-]*\.(js|css|svg)$/;

// No inline script or style, only this origin: 'self' covers same-host ws:/wss: (CSP 3).
// No upgrade-insecure-requests: it would turn the demo's ws:// into wss://.
const CSP = helmet.contentSecurityPolicy({
  useDefaults: false,
  directives: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'"],
    fontSrc: ["'self'"],
    connectSrc: ["'self'"],
    baseUri: ["'none'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
    objectSrc: ["'none'"],
    scriptSrcAttr: ["'none'"],
    styleSrcAttr: ["'none'"],
  },
});

// The names carry no version: a browser may keep a copy but asks again each time
// (ETag, so mostly a 304), and a new release is seen at once.
const files = express.static(PUBLIC_DIR, {
  index: false,
  redirect: false,
  dotfiles: 'ignore',
  setHeaders: (res) => res.setHeader('Cache-Control', 'no-cache'),
});

export function consoleRouter(): Router {
  const r = Router();

  const page: RequestHandler = (_req, res, next) => {
    res.set('Cache-Control', 'no-cache');
    res.sendFile('index.html', { root: PUBLIC_DIR }, (err) => err && next(err));
  };
  documented({
    method: 'get', path: '/console', summary: 'The web console for the finance office and the entities (HTML page; also /console/)', roles: [],
    description: 'Italian; logs in with POST /console/session. Served under its own CSP: only this origin, no inline script or style.',
    responseTypes: ['text/html'],
  });
  r.get('/console', CSP, page);

  // Anything else under /console (the session routes) passes on untouched.
  documented({
    method: 'get', path: '/console/:file', summary: "The console's ES modules and style sheet (static files of src/console/public)", roles: [],
    responseTypes: ['text/javascript', 'text/css'], errors: ['NOT_FOUND'],
  });
  r.get('/console/:file', (req, res, next) => {
    const name = String(req.params.file);
    if (!SERVED.test(name)) return next();
    // express.static resolves the URL under its root: hand it the bare name.
    const url = req.url;
    req.url = `/${name}`;
    files(req, res, () => {
      req.url = url;
      next();
    });
  });

  return r;
}
