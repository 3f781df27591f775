// `tserve pagopa-node`: starts, says where it listens and what it can be asked, answers.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkNoticeNumber } from '../../src/domain/notice.js';
import { DEMO_PSP } from '../../src/pagopa/simulator/server.js';
import { buildRequest, parseResponse } from '../../src/pagopa/soap.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('tserve pagopa-node', () => {
  it('prints its URL, its creditors and payable notices, then answers a verify for one of them', async () => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TSERVE_PAGOPA_')));
    const child = spawn(process.execPath, ['bin/tserve.js', 'pagopa-node', '--port', '0', '--latency-ms', '0'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.setEncoding('utf8').on('data', (c: string) => {
          stdout += c;
          if (/^ready/m.test(stdout)) resolve();
        });
        child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
      });
      const url = /listening on (http:\/\/\S+)/.exec(stdout)![1]!;
      expect(stdout).toContain(`PSP ${DEMO_PSP.idPSP}`);
      expect(stdout).not.toContain(DEMO_PSP.password);
      expect(stdout).not.toContain(DEMO_PSP.subscriptionKey);
      for (const name of ['Comune di Firenze', 'Regione Toscana', 'ACI']) expect(stdout).toContain(name);
      expect(stdout.split('payable notices')[1]!.split('\n').filter((l) => /^\s+\d{11}\s+\d{18}\s/.test(l)).length).toBeGreaterThanOrEqual(10);
      const [, fiscalCode, noticeNumber] = /^\s+(\d{11})\s+(\d{18})\s+/m.exec(stdout.split('payable notices')[1]!)!;
      expect(checkNoticeNumber(noticeNumber!).ok).toBe(true);

      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'text/xml', SOAPAction: 'verifyPaymentNotice', 'Ocp-Apim-Subscription-Key': DEMO_PSP.subscriptionKey },
        body: buildRequest('verifyPaymentNotice', DEMO_PSP, { fiscalCode: fiscalCode!, noticeNumber: noticeNumber! }),
      });
      expect(parseResponse('verifyPaymentNotice', await res.text())).toMatchObject({ ok: true, value: { fiscalCodePA: fiscalCode } });
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
    }
  });
});
