// Planted symlinks and loose ownership. At start: a state directory others can write, a
// token file another uid owns (directly or behind a symlink) and a state directory
// reached through another user's symlink are refused with one sentence. While the agent
// runs as root: symlinks planted where it appends (audit.jsonl, a worker's log) never
// get a byte written through them; the agent stays up, ops still end, the lock is freed.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lchownSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createTestBed } from '../../fixtures/testbed';
import { AGENT_JS, connect, RawClient } from '../../integration/agent-harness';
import { Tally, check, killWorkers, startAgent, stopAllAgents, within, type Scenario } from '../lib';

const OTHER = 65534;

export const plantedSymlinksScenario: Scenario = {
  name: 'planted-symlinks',
  async run(ctx) {
    const rounds = ctx.quick ? 1 : 5;
    const bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    const h = bed.host('h1');
    const tally = new Tally(ctx);
    const victim = path.join(bed.root, 'victim');
    const precious = 'precious: never written by the agent\n';
    let plants = 0;
    let refusals = 0;
    /** `serve` with config overrides must refuse to start, with one sentence matching `wanted`. */
    const refusedAtStart = (label: string, overrides: Record<string, unknown>, wanted: RegExp) =>
      tally.trial(`refused at start: ${label}`, async () => {
        const r = spawnSync(process.execPath, [AGENT_JS, 'serve', '--config', bed.writeConfig('h1', overrides), '--listen', '127.0.0.1:0'], { env: bed.env, encoding: 'utf8', timeout: 30_000 });
        check(r.status === 2, `serve exited ${r.status} (${r.signal ?? ''}): ${r.stderr.trim()}`);
        const lines = r.stderr.trim().split('\n');
        check(lines.length === 1 && wanted.test(lines[0]!), `refusal: ${r.stderr.trim()}`);
        refusals++;
      });
    try {
      for (let round = 0; round < rounds; round++) {
        const dir = path.join(bed.root, `round-${round}`);
        mkdirSync(dir, { mode: 0o755 });
        const open = path.join(dir, 'open-state');
        mkdirSync(open, { mode: 0o700 });
        chmodSync(open, 0o777);
        await refusedAtStart('state dir 0777', { stateDir: open }, /the state directory .* is writable by group or others \(mode 777\).*run: chmod 700 /);
        const underOpen = path.join(dir, 'open-parent');
        mkdirSync(path.join(underOpen, 'state'), { recursive: true, mode: 0o700 });
        chmodSync(underOpen, 0o777);
        await refusedAtStart('parent of the state dir 0777', { stateDir: path.join(underOpen, 'state') }, /above the state directory .* without the sticky bit/);
        const theirToken = path.join(dir, 'their-token');
        writeFileSync(theirToken, 'b'.repeat(40) + '\n', { mode: 0o600 });
        chownSync(theirToken, OTHER, OTHER);
        await refusedAtStart('token file owned by another uid', { tokenFile: theirToken }, new RegExp(`token file ${theirToken} is owned by uid ${OTHER}`));
        const link = path.join(dir, 'token-link');
        symlinkSync(theirToken, link);
        await refusedAtStart('symlink to a token file owned by another uid', { tokenFile: link }, /resolves to .* is owned by uid 65534/);
        const sticky = path.join(dir, 'sticky');
        mkdirSync(sticky, { mode: 0o1777 });
        chmodSync(sticky, 0o1777);
        const stateLink = path.join(sticky, 'state');
        symlinkSync(h.stateDir, stateLink);
        lchownSync(stateLink, OTHER, OTHER);
        await refusedAtStart("state dir through another user's symlink", { stateDir: stateLink }, /reached through symlink .* owned by uid 65534/);
      }

      // While the agent runs: plant symlinks where it appends.
      writeFileSync(victim, precious, { mode: 0o644 });
      const agent = await startAgent(bed, 'h1');
      const c = connect(agent, bed.token, { reconnect: false });
      try {
        await c.connect();
        await c.startOp('ps-setup', 'switch', {});
        check((await c.follow('ps-setup')).op.state === 'succeeded', 'setup switch failed');
        for (let round = 0; round < rounds; round++) {
          await tally.trial(`audit.jsonl planted ${round + 1}`, async () => {
            const audit = path.join(h.stateDir, 'audit.jsonl');
            rmSync(audit, { force: true });
            symlinkSync(victim, audit);
            plants++;
            // A refused upgrade (wrong token) is an audit record: it must not go through.
            const bad = await RawClient.open(agent.url, 'x'.repeat(40), false).then(
              (raw) => (raw.close(), 'accepted'),
              () => 'refused',
            );
            check(bad === 'refused', 'a wrong token was accepted');
            // An op's start is audited before anything is written or runs: with the audit log
            // planted, the op is refused in one sentence naming the file, and nothing ran.
            const opId = `plant-${round}-${Date.now().toString(36)}`;
            const refused = await c.startOp(opId, 'test', {}).then(
              () => undefined,
              (err: Error) => err.message,
            );
            check(refused !== undefined && /audit\.jsonl .*if it is a symlink, remove it.*nothing ran/.test(refused), `op start with a planted audit.jsonl: ${refused ?? 'accepted'}`);
            check(!existsSync(path.join(h.stateDir, 'ops', opId)) && !existsSync(path.join(h.stateDir, 'ops', `${opId}.json`)), `op ${opId} left files behind although it was refused`);
            check(readFileSync(victim, 'utf8') === precious, 'the audit record was written through the planted symlink');
            const st = await within('status', 30_000, (async () => {
              for (;;) {
                const s = await c.status();
                if (!s.busy) return s;
                await new Promise((r) => setTimeout(r, 100));
              }
            })());
            check(st.busy === undefined, 'the host stayed locked');
            rmSync(audit);
          });
        }
        check(agent.proc.exitCode === null, 'the agent went down');
      } finally {
        c.close();
      }
    } finally {
      await stopAllAgents();
      killWorkers(h.stateDir);
      await bed.cleanup();
    }
    return tally.outcome(`${refusals} loose setups refused at start with one sentence; ${plants} symlinks planted in the state dir, 0 bytes written through them`);
  },
};
