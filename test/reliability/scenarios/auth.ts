// Auth: every way in without the host's token must run nothing. Attempts: no token,
// wrong token, a prefix of the token, another scheme, the token in the query string,
// the token of another host (valid there), a captured upgrade request replayed without
// its Authorization header (raw HTTP over TCP), op.start before hello, a second hello,
// mutating requests to a listener without a token file (read-only), and a token file
// readable by others (the agent must refuse to serve). After each attempt: no op
// directory, no activation, no op audit record, the profile untouched; and the refused
// upgrades and requests are in the audit log as refusal records.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import WebSocket from 'ws';
import { createTestBed } from '../../fixtures/testbed';
import { AGENT_JS, RawClient } from '../../integration/agent-harness';
import { spawnSync } from 'node:child_process';
import { readAudit, readRefusals } from '../../../agent/journal/audit';
import { Tally, check, fileText, killWorkers, opDirs, readProfileLinks, startAgent, stopAllAgents, type Scenario } from '../lib';

/** Open a WebSocket with these headers; resolves with the HTTP status of a refusal, or the open socket. */
async function tryOpen(url: string, headers: Record<string, string>): Promise<{ status: number } | { ws: WebSocket }> {
  const ws = new WebSocket(url, { headers });
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      ws.terminate();
    });
    ws.once('open', () => resolve({ ws }));
    ws.once('error', (err) => reject(err));
  });
}

/** A raw HTTP exchange on loopback: returns the status line. */
async function rawHttp(port: number, request: string): Promise<string> {
  const s = net.connect(port, '127.0.0.1');
  await once(s, 'connect');
  s.write(request);
  let data = '';
  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, 3000);
    s.setEncoding('utf8').on('data', (d: string) => {
      data += d;
      if (data.includes('\r\n\r\n')) (clearTimeout(t), resolve());
    });
    s.on('close', () => (clearTimeout(t), resolve()));
  });
  s.destroy();
  return data.split('\r\n')[0] ?? '';
}

function upgradeRequest(port: number, auth?: string): string {
  const key = randomBytes(16).toString('base64');
  return (
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${auth ? `Authorization: ${auth}\r\n` : ''}\r\n`
  );
}

export const authScenario: Scenario = {
  name: 'auth',
  async run(ctx) {
    const rounds = ctx.quick ? 2 : 5;
    const bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }, { name: 'h2', platform: 'nixos' }] });
    const h1 = bed.host('h1');
    const tally = new Tally(ctx);
    const tokA = randomBytes(24).toString('hex');
    const tokB = randomBytes(24).toString('hex');
    const fileA = path.join(bed.root, 'token-h1');
    const fileB = path.join(bed.root, 'token-h2');
    writeFileSync(fileA, `# h1 controllers\n${tokA}\n`, { mode: 0o600 });
    writeFileSync(fileB, `${tokB}\n`, { mode: 0o600 });
    const a1 = await startAgent(bed, 'h1', { overrides: { tokenFile: fileA } });
    const a2 = await startAgent(bed, 'h2', { overrides: { tokenFile: fileB } });
    // The same host served read-only (no token file) on another port, same state dir.
    const ro = await startAgent(bed, 'h1', { overrides: { tokenFile: undefined } });
    const baseline = () => ({
      ops: opDirs(h1.stateDir).join(','),
      activations: fileText(h1.activationLog),
      audit: JSON.stringify(readAudit(h1.stateDir)),
      profile: JSON.stringify([...readProfileLinks(h1.profile).targets]),
    });
    const start = baseline();
    const t0 = Date.now();
    const floodSize = ctx.quick ? 200 : 2000;
    let floodRecords = 0;
    let floodBytes = 0;
    let floodMs = 0;
    const nothingRan = (what: string) => {
      const now = baseline();
      check(now.ops === start.ops, `${what}: an op directory appeared (${now.ops})`);
      check(now.activations === start.activations, `${what}: an activation ran`);
      check(now.audit === start.audit, `${what}: an op record appeared in the audit log`);
      check(now.profile === start.profile, `${what}: the profile changed`);
    };
    const refused = async (what: string, url: string, headers: Record<string, string>) =>
      tally.trial(what, async () => {
        const r = await tryOpen(url, headers);
        if ('ws' in r) {
          r.ws.terminate();
          throw new Error('the WebSocket upgrade was accepted');
        }
        check(r.status === 401, `HTTP ${r.status}, expected 401`);
        nothingRan(what);
      });
    try {
      for (let round = 1; round <= rounds; round++) {
        const u = a1.url;
        await refused(`round ${round}: no token`, u, {});
        await refused(`round ${round}: wrong token`, u, { Authorization: `Bearer ${randomBytes(24).toString('hex')}` });
        await refused(`round ${round}: token prefix`, u, { Authorization: `Bearer ${tokA.slice(0, 20)}` });
        await refused(`round ${round}: token upper-cased`, u, { Authorization: `Bearer ${tokA.toUpperCase()}` });
        await refused(`round ${round}: token with a suffix`, u, { Authorization: `Bearer ${tokA}x` });
        await refused(`round ${round}: Basic scheme`, u, { Authorization: `Basic ${Buffer.from('root:' + tokA).toString('base64')}` });
        await refused(`round ${round}: token in the query string`, `${u}/?token=${tokA}&access_token=${tokA}`, {});
        await refused(`round ${round}: the token file's comment line as token`, u, { Authorization: 'Bearer #' });
        await tally.trial(`round ${round}: token of another host`, async () => {
          const ok = await tryOpen(a2.url, { Authorization: `Bearer ${tokB}` });
          check('ws' in ok, 'the other host refused its own token (the attempt would prove nothing)');
          ok.ws.terminate();
          const r = await tryOpen(u, { Authorization: `Bearer ${tokB}` });
          if ('ws' in r) (r.ws.terminate(), check(false, "h1 accepted h2's token"));
          else check(r.status === 401, `HTTP ${r.status}`);
          nothingRan("h2's token on h1");
        });
        await tally.trial(`round ${round}: captured upgrade request replayed without its token`, async () => {
          // The same bytes a controller sends, first with the token (accepted: 101), then
          // replayed with the Authorization header stripped, as an eavesdropper of a TLS-less
          // connection without the header would (401).
          const withToken = await rawHttp(a1.port, upgradeRequest(a1.port, `Bearer ${tokA}`));
          check(/^HTTP\/1\.1 101/.test(withToken), `the genuine request got "${withToken}"`);
          const replay = await rawHttp(a1.port, upgradeRequest(a1.port));
          check(/^HTTP\/1\.1 401/.test(replay), `the replay got "${replay}"`);
          const plain = await rawHttp(a1.port, `GET / HTTP/1.1\r\nHost: x\r\n\r\n`);
          check(/^HTTP\/1\.1 426/.test(plain), `a plain HTTP request got "${plain}"`);
          nothingRan('replayed upgrade');
        });
        await tally.trial(`round ${round}: op.start before hello`, async () => {
          const c = await RawClient.open(u, tokA, false);
          const r = await c.request({ type: 'op.start', id: 1, op: `pre-hello-${round}`, kind: 'switch', params: {} });
          c.close();
          check(r.type === 'error' && (r.error as { code: string }).code === 'protocol', `answered ${JSON.stringify(r)}`);
          nothingRan('op.start before hello');
        });
        await tally.trial(`round ${round}: second hello on an authenticated connection`, async () => {
          const c = await RawClient.open(u, tokA, true);
          c.send({ type: 'hello', protocol: 1, client: { name: 'replayed', version: '1' } });
          const e = await c.next((m) => m.type === 'error');
          check((e.error as { code: string }).code === 'protocol', `answered ${JSON.stringify(e)}`);
          const st = await c.request({ type: 'status', id: 2 });
          c.close();
          check(st.type === 'result', 'the connection stopped answering after the second hello');
          nothingRan('second hello');
        });
        await tally.trial(`round ${round}: read-only listener refuses every mutating request`, async () => {
          const c = await RawClient.open(ro.url, undefined, true);
          c.send({ type: 'hello', protocol: 1, client: { name: 'again', version: '1' } });
          for (const [i, kind] of (['switch', 'force-rebuild', 'rollback', 'test', 'pull', 'self-update', 'rebuild-smart'] as const).entries()) {
            const r = await c.request({ type: 'op.start', id: 10 + i, op: `ro-${round}-${i}`, kind, params: {} });
            check(r.type === 'error' && (r.error as { code: string }).code === 'unauthorized', `${kind}: ${JSON.stringify(r)}`);
          }
          for (const type of ['op.cancel', 'op.confirm']) {
            const r = await c.request({ type, id: type, op: 'k9-anything' });
            check(r.type === 'error' && (r.error as { code: string }).code === 'unauthorized', `${type}: ${JSON.stringify(r)}`);
          }
          const st = await c.request({ type: 'status', id: 'st' });
          c.close();
          check(st.type === 'result', 'the read-only listener does not answer status');
          nothingRan('read-only listener');
        });
      }
      await tally.trial('token file readable by others', async () => {
        const loose = path.join(bed.root, 'token-loose');
        writeFileSync(loose, `${tokA}\n`, { mode: 0o644 });
        const r = spawnSync(process.execPath, [AGENT_JS, 'serve', '--config', bed.writeConfig('h1', { tokenFile: loose }), '--listen', '127.0.0.1:0'], {
          env: bed.env,
          encoding: 'utf8',
          timeout: 20_000,
        });
        check(r.status !== 0 && r.status !== null, `serve started with a 0644 token file (status ${r.status})`);
        check(/readable by group or others/.test(r.stderr), `unclear refusal: ${r.stderr.trim()}`);
      });
      await tally.trial('refused attempts are in the audit log (rate-limited)', async () => {
        const recs = readRefusals(h1.stateDir);
        const ups = recs.filter((r) => r.event === 'refused' && r.request === 'upgrade' && r.code === '401');
        const ro = recs.filter((r) => r.event === 'refused' && r.code === 'unauthorized');
        // At most 10 per source per minute and agent: the first round's ten 401s and the
        // read-only listener's nine refusals are all there; later rounds are only counted.
        const windows = Math.ceil((Date.now() - t0) / 60_000) + 1; // + the window open when t0 was taken
        check(ups.length >= 10 && ups.length <= 10 * windows, `${ups.length} upgrade refusals recorded in ${windows} minute(s)`);
        check(ro.length >= 9 && ro.length <= 10 * windows, `${ro.length} unauthorized refusals recorded in ${windows} minute(s)`);
        check(!JSON.stringify(recs).includes(tokA), 'the genuine token reached the audit log');
      });
      // The genuine token does work: the attempts above failed for the right reason.
      await tally.trial('the genuine token is accepted', async () => {
        const c = await RawClient.open(a1.url, tokA, true);
        const st = await c.request({ type: 'status', id: 1 });
        c.close();
        check(st.type === 'result', 'status refused with the genuine token');
      });
      await tally.trial('a flood of bad tokens: bounded audit growth, the genuine token still served', async () => {
        const auditPath = path.join(h1.stateDir, 'audit.jsonl');
        const sizeBefore = fileText(auditPath).length;
        const recsBefore = readRefusals(h1.stateDir).length;
        const t = Date.now();
        for (let batch = 0; batch < floodSize / 25; batch++) {
          const results = await Promise.all(
            Array.from({ length: 25 }, () => tryOpen(a1.url, { Authorization: `Bearer ${randomBytes(24).toString('hex')}` })),
          );
          for (const r of results) {
            if ('ws' in r) (r.ws.terminate(), check(false, 'a random token was accepted'));
            else check(r.status === 401, `HTTP ${r.status}`);
          }
        }
        floodMs = Date.now() - t;
        const ok = await tryOpen(a1.url, { Authorization: `Bearer ${tokA}` });
        check('ws' in ok, 'the genuine token was refused during the flood');
        if ('ws' in ok) ok.ws.terminate();
        nothingRan('flood');
        // Stopping the agent closes the window: the flood is counted in one summary.
        await a1.stop();
        const summaries = readRefusals(h1.stateDir).filter((r) => r.event === 'refused-summary');
        const counted = summaries.reduce((n, r) => n + (r.event === 'refused-summary' ? (r.bySource['127.0.0.1'] ?? 0) : 0), 0);
        check(counted >= floodSize, `the summaries count ${counted} refusals from 127.0.0.1, the flood alone was ${floodSize}`);
        floodRecords = readRefusals(h1.stateDir).length - recsBefore;
        floodBytes = fileText(auditPath).length - sizeBefore;
        // This source had its 10 records this minute already; a window that closed
        // meanwhile adds its summary and at most 10 more.
        check(floodRecords <= 12, `${floodRecords} audit records for ${floodSize} refused upgrades`);
        check(floodBytes < 16_000, `the audit log grew ${floodBytes} bytes for ${floodSize} refused upgrades`);
      });
    } finally {
      await stopAllAgents();
      killWorkers(h1.stateDir);
      await bed.cleanup();
    }
    return tally.outcome(`${floodSize} refused upgrades in ${(floodMs / 1000).toFixed(1)} s → ${floodRecords} audit records, +${floodBytes} bytes`);
  },
};
