// Listener: what an anonymous client and a web page can do. Each round, on a listener
// without a token file, an anonymous client tries every op kind (build included: it
// evaluates the flake and writes the store) at once, several of each, then the reads;
// and upgrades carrying browser Origins (a page on the host, an opaque origin, the
// allowed origin with a trailing slash, a page holding the token) go to both listeners.
// After each round: every op refused as unauthorized and every Origin with 403, no op
// directory, no activation, no store path built, no op record; the refusals are in the
// audit log; the reads and the allowed origin are served.
import { createHash } from 'node:crypto';
import { opKind } from '../../../protocol';
import { readAudit, readRefusals, readStarts, type RefusalRecord } from '../../../agent/journal/audit';
import { createTestBed } from '../../fixtures/testbed';
import { bearer, RawClient, upgradeStatus } from '../../integration/agent-harness';
import { Tally, check, fileText, killWorkers, opDirs, readProfileLinks, startAgent, stopAllAgents, type Scenario } from '../lib';

const ALLOWED = 'https://fleet.example.com';

export const listenerScenario: Scenario = {
  name: 'listener',
  async run(ctx) {
    const rounds = ctx.quick ? 2 : 6;
    const perKind = ctx.quick ? 3 : 10;
    const bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    const h = bed.host('h1');
    const tally = new Tally(ctx);
    const anon = await startAgent(bed, 'h1', { overrides: { tokenFile: undefined } });
    const guarded = await startAgent(bed, 'h1', { overrides: { allowedOrigins: [ALLOWED] } });
    const snapshot = () =>
      createHash('sha256')
        .update(opDirs(h.stateDir).join(','))
        .update(fileText(h.activationLog))
        .update(JSON.stringify(readAudit(h.stateDir)))
        .update(JSON.stringify(readStarts(h.stateDir)))
        .update(JSON.stringify([...readProfileLinks(h.profile).targets]))
        .digest('hex');
    const start = snapshot();
    let opsRefused = 0;
    let originsRefused = 0;
    try {
      for (let round = 1; round <= rounds; round++) {
        await tally.trial(`round ${round}: anonymous op starts, ${perKind} of each kind at once`, async () => {
          const c = await RawClient.open(anon.url);
          const answers = await Promise.all(
            opKind.options.flatMap((kind) =>
              Array.from({ length: perKind }, (_, i) =>
                c.request({ type: 'op.start', id: `${kind}-${i}`, op: `anon-${round}-${kind}-${i}`, kind, params: kind === 'rollback' ? { to: 1 } : {} }).then((r) => [kind, r] as const),
              ),
            ),
          );
          for (const [kind, r] of answers) {
            check(r.type === 'error' && (r.error as { code: string }).code === 'unauthorized', `${kind} on the tokenless listener: ${JSON.stringify(r).slice(0, 300)}`);
            opsRefused++;
          }
          for (const type of ['status', 'generations', 'ops.list']) check((await c.request({ type, id: type })).type === 'result', `${type} was not answered`);
          c.close();
          check(snapshot() === start, 'something ran: an op directory, activation, profile change or op record appeared');
        });
        await tally.trial(`round ${round}: browser Origins`, async () => {
          const attempts: [string, string, Record<string, string>][] = [
            ['page on the host → tokenless', anon.url, { Origin: 'http://127.0.0.1:8000' }],
            ['opaque origin → tokenless', anon.url, { Origin: 'null' }],
            ['origin allowed elsewhere → tokenless', anon.url, { Origin: ALLOWED }],
            ['page holding the token', guarded.url, { Origin: 'http://localhost:3000', ...bearer(bed.token) }],
            ['allowed origin + trailing slash', guarded.url, { Origin: `${ALLOWED}/`, ...bearer(bed.token) }],
            ['draft-8 Sec-WebSocket-Origin', anon.url, { 'Sec-WebSocket-Origin': 'http://127.0.0.1:8000' }],
          ];
          for (const [what, url, headers] of attempts) {
            const r = await upgradeStatus(url, headers);
            check(r.status === 403, `${what}: HTTP ${r.status}, expected 403`);
            originsRefused++;
          }
          check((await upgradeStatus(guarded.url, { Origin: ALLOWED, ...bearer(bed.token) })).status === 101, 'the allowed origin was refused');
          check((await upgradeStatus(anon.url)).status === 101, 'a controller without Origin was refused');
          check(snapshot() === start, 'something ran during the Origin attempts');
        });
      }
      await tally.trial('every refusal is in the audit log (as a record or counted in a summary)', async () => {
        // Stopping the agents closes their rate-limit windows: the summaries are written.
        await anon.stop();
        await guarded.stop();
        const byCode = new Map<string, number>();
        for (const r of readRefusals(h.stateDir)) {
          if (r.event === 'refused') byCode.set(r.code, (byCode.get(r.code) ?? 0) + 1);
          else for (const [code, n] of Object.entries(r.byCode)) byCode.set(code, (byCode.get(code) ?? 0) + n);
        }
        check((byCode.get('unauthorized') ?? 0) >= opsRefused, `${byCode.get('unauthorized') ?? 0} unauthorized refusals in the audit log for ${opsRefused} refused op starts`);
        check((byCode.get('403') ?? 0) >= originsRefused, `${byCode.get('403') ?? 0} 403 refusals in the audit log for ${originsRefused} refused Origins`);
        const first = readRefusals(h.stateDir).find((r): r is RefusalRecord => r.event === 'refused');
        check(first?.code === 'unauthorized' && first.client.auth === 'none', `the first refusal recorded is ${JSON.stringify(first)}`);
      });
    } finally {
      await stopAllAgents();
      killWorkers(h.stateDir);
      await bed.cleanup();
    }
    return tally.outcome(`${opsRefused} anonymous op starts (${opKind.options.length} kinds, build included) refused as unauthorized, ${originsRefused} browser-Origin upgrades refused with 403; 0 ops ran`);
  },
};
