// The API reference page: Swagger UI (swagger-ui-dist, static files) over /openapi.json,
// served from this origin only, so that it works with no network and under a CSP that
// names no other host. Swagger UI styles elements inline (style-src 'unsafe-inline') and
// its icons are data: URIs; that relaxed policy is this router's, not the API's.
import { createRequire } from 'node:module';
import path from 'node:path';
import { Router, type RequestHandler } from 'express';
import helmet from 'helmet';
import { documented } from './openapi.js';
import { sendProblem } from './problem.js';

const SWAGGER_DIR = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

/** What the page loads: two files of the package and our own start script (no inline script). */
const FILES: Record<string, { type: string; body: string | { file: string } }> = {
  'swagger-ui.css': { type: 'text/css; charset=utf-8', body: { file: 'swagger-ui.css' } },
  'swagger-ui-bundle.js': { type: 'text/javascript; charset=utf-8', body: { file: 'swagger-ui-bundle.js' } },
  // validatorUrl null: the default badge would ask a validator on another host.
  'start.js': {
    type: 'text/javascript; charset=utf-8',
    body: `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#reference', deepLinking: true, validatorUrl: null, tryItOutEnabled: false, displayOperationId: true });\n`,
  },
};

const PAGE = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tserve API reference</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="reference"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/start.js"></script>
</body>
</html>
`;

const CSP = helmet.contentSecurityPolicy({
  useDefaults: false,
  directives: {
    defaultSrc: ["'none'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'", "'unsafe-inline'"],
    imgSrc: ["'self'", 'data:'],
    fontSrc: ["'self'", 'data:'],
    connectSrc: ["'self'"],
    baseUri: ["'none'"],
    formAction: ["'none'"],
    frameAncestors: ["'none'"],
    objectSrc: ["'none'"],
    scriptSrcAttr: ["'none'"],
  },
});

export function referencePage(): Router {
  const r = Router();
  // Static for a release: a browser may keep them an hour.
  const cache: RequestHandler = (_req, res, next) => {
    res.set('Cache-Control', 'public, max-age=3600');
    next();
  };

  documented({ method: 'get', path: '/docs', summary: 'The API reference page (Swagger UI over /openapi.json, served offline)', roles: [], responseTypes: ['text/html'] });
  r.get('/docs', CSP, cache, (_req, res) => {
    res.type('text/html; charset=utf-8').send(PAGE);
  });

  documented({
    method: 'get', path: '/docs/:file', summary: `The reference page's scripts and style sheet: ${Object.keys(FILES).join(', ')}`, roles: [],
    responseTypes: ['text/javascript', 'text/css'], errors: ['NOT_FOUND'],
  });
  r.get('/docs/:file', CSP, cache, (req, res) => {
    const f = FILES[String(req.params.file)];
    if (!f || !Object.hasOwn(FILES, String(req.params.file))) return sendProblem(res, 'NOT_FOUND', `no file ${String(req.params.file)} in the reference page`);
    res.type(f.type);
    if (typeof f.body === 'string') return res.send(f.body);
    res.sendFile(f.body.file, { root: SWAGGER_DIR });
  });

  return r;
}
