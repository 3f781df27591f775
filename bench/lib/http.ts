// Small HTTP(S) client for the bench's own calls to a server on loopback: /metrics,
// logins, a bulk upload, a settlement run. Not the load generators (their own processes).
import http from 'node:http';
import https from 'node:https';

export interface HttpAnswer {
  status: number;
  body: string;
}

export function httpRequest(
  url: string,
  opts: { method?: string; body?: string | Buffer; contentType?: string; token?: string; ca?: Buffer; timeoutMs?: number } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const headers: Record<string, string | number> = {};
    if (opts.body !== undefined) {
      headers['content-type'] = opts.contentType ?? 'application/json';
      headers['content-length'] = Buffer.byteLength(opts.body);
    }
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    const req = mod.request(
      url,
      { method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'), headers, ca: opts.ca, servername: 'localhost', timeout: opts.timeoutMs ?? 5000 },
      (res) => {
        let t = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (t += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: t }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${opts.timeoutMs ?? 5000} ms: ${url}`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** A user's bearer token (POST /v1/auth/login). */
export async function login(baseUrl: string, username: string, password: string, ca?: Buffer): Promise<string> {
  const r = await httpRequest(`${baseUrl}/v1/auth/login`, { body: JSON.stringify({ username, password }), ca });
  if (r.status !== 200) throw new Error(`login as ${username}: ${r.status} ${r.body.slice(0, 300)}`);
  return (JSON.parse(r.body) as { token: string }).token;
}
