// What the agent checks at start: token file, TLS key, state directory and config file
// must be the agent user's (root here) and closed to others; files owned by another uid
// are real files chowned to 65534 (nobody). And state files are never written through a
// planted symlink.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, lchownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { appendAudit } from '../../agent/journal/audit';
import { JournalWriter } from '../../agent/journal/writer';
import { writeJsonAtomicSync } from '../../agent/state/atomic';
import { AGENT_JS } from './agent-harness';

const OTHER = 65534;
let dir: string;
let n = 0;
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-owner-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh case directory with a valid config (state dir, token file) the case then spoils. */
function setup(extra: Record<string, unknown> = {}) {
  const root = path.join(dir, `case-${++n}`);
  mkdirSync(root, { mode: 0o700 });
  const stateDir = path.join(root, 'state');
  mkdirSync(stateDir, { mode: 0o700 });
  const tokenFile = path.join(root, 'token');
  writeFileSync(tokenFile, 'a'.repeat(40) + '\n', { mode: 0o600 });
  const cfg = { host: 'h1', flake: path.join(root, 'nixcfg'), platform: 'nixos', stateDir, tokenFile, ...extra };
  const config = path.join(root, 'agent.json');
  const write = (c: object = cfg) => writeFileSync(config, JSON.stringify(c), { mode: 0o644 });
  write();
  return { root, stateDir, tokenFile, config, write, cfg };
}

/** Start `serve`; resolves with how it ended: refused at start (exit status, stderr) or listening (then stopped). */
function serve(config: string): Promise<{ listening: boolean; code: number | null; stderr: string }> {
  const p = spawn(process.execPath, [AGENT_JS, 'serve', '--config', config, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let listening = false;
  p.stderr.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
    if (!listening && /listening on/.test(stderr)) {
      listening = true;
      p.kill('SIGTERM');
    }
  });
  return new Promise((resolve) => p.once('close', (code) => resolve({ listening, code, stderr })));
}

async function refused(config: string, wanted: RegExp): Promise<void> {
  const r = await serve(config);
  assert.equal(r.listening, false, `should be refused: ${r.stderr}`);
  assert.equal(r.code, 2, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, wanted);
}

async function accepted(config: string): Promise<void> {
  const r = await serve(config);
  assert.equal(r.listening, true, r.stderr);
}

describe('checked at start', () => {
  test('token file: the agent user\'s 0600 file, directly or through a symlink (sops-nix); refused when another uid owns it', async () => {
    const ok = setup();
    await accepted(ok.config);
    const viaLink = setup();
    const link = path.join(viaLink.root, 'token-link');
    symlinkSync(viaLink.tokenFile, link);
    viaLink.write({ ...viaLink.cfg, tokenFile: link });
    await accepted(viaLink.config);

    const theirs = setup();
    chownSync(theirs.tokenFile, OTHER, OTHER);
    await refused(theirs.config, new RegExp(`^nixfleet-agent: token file ${theirs.tokenFile} is owned by uid ${OTHER}, not by the agent's user \\(uid 0\\).*; run: chown 0 ${theirs.tokenFile}$`));
    const linkToTheirs = setup();
    chownSync(linkToTheirs.tokenFile, OTHER, OTHER);
    const l2 = path.join(linkToTheirs.root, 'token-link');
    symlinkSync(linkToTheirs.tokenFile, l2);
    linkToTheirs.write({ ...linkToTheirs.cfg, tokenFile: l2 });
    await refused(linkToTheirs.config, new RegExp(`token file ${l2} \\(resolves to ${linkToTheirs.tokenFile}\\) is owned by uid ${OTHER}`));
    const loose = setup();
    chmodSync(loose.tokenFile, 0o640);
    await refused(loose.config, /token file .* is readable by group or others \(mode 640\); run: chmod 600 /);
  });

  test('state directory: refused when another uid owns it, when others can write it or a directory above it, or through their symlink', async () => {
    const theirs = setup();
    chownSync(theirs.stateDir, OTHER, OTHER);
    await refused(theirs.config, new RegExp(`the state directory ${theirs.stateDir} is owned by uid ${OTHER}.*run: chown -R 0 ${theirs.stateDir}$`));
    const open = setup();
    chmodSync(open.stateDir, 0o777);
    await refused(open.config, /the state directory .* is writable by group or others \(mode 777\), who could plant symlinks in it; run: chmod 700 /);
    const openParent = setup();
    chmodSync(openParent.root, 0o777);
    await refused(openParent.config, new RegExp(`${openParent.root}, above the state directory .* without the sticky bit \\(mode 777\\).*run: chmod go-w ${openParent.root}$`));
    const sticky = setup();
    chmodSync(sticky.root, 0o1777);
    await accepted(sticky.config);
    // A symlink to the state directory in a sticky directory, owned by someone else: they can re-point it.
    const viaLink = setup();
    chmodSync(viaLink.root, 0o1777);
    const link = path.join(viaLink.root, 'state-link');
    symlinkSync(viaLink.stateDir, link);
    lchownSync(link, OTHER, OTHER);
    viaLink.write({ ...viaLink.cfg, stateDir: link });
    await refused(viaLink.config, new RegExp(`reached through symlink ${link}, owned by uid ${OTHER}`));
    const missing = setup();
    rmSync(missing.stateDir, { recursive: true });
    await accepted(missing.config);
    assert.equal((await import('node:fs')).statSync(missing.stateDir).mode & 0o777, 0o700, 'a missing state directory is created 0700');
  });

  test('TLS key and config file', async () => {
    const key = setup();
    const keyFile = path.join(key.root, 'key.pem');
    writeFileSync(keyFile, 'not checked this far\n', { mode: 0o600 });
    chownSync(keyFile, OTHER, OTHER);
    key.write({ ...key.cfg, tlsCert: path.join(key.root, 'cert.pem'), tlsKey: keyFile });
    await refused(key.config, new RegExp(`TLS key ${keyFile} is owned by uid ${OTHER}`));
    const cfg = setup();
    chmodSync(cfg.config, 0o666);
    await refused(cfg.config, new RegExp(`config file ${cfg.config} is writable by group or others \\(mode 666\\); run: chmod go-w `));
    const cfgTheirs = setup();
    chownSync(cfgTheirs.config, OTHER, OTHER);
    await refused(cfgTheirs.config, new RegExp(`config file ${cfgTheirs.config} is owned by uid ${OTHER}`));
  });
});

describe('never through a planted symlink', () => {
  test('audit appends, journal opens and atomic replaces fail (ELOOP/EEXIST) and leave the target alone', () => {
    const { stateDir, root } = setup();
    const victim = path.join(root, 'victim');
    writeFileSync(victim, 'precious\n', { mode: 0o644 });
    symlinkSync(victim, path.join(stateDir, 'audit.jsonl'));
    assert.throws(
      () => appendAudit(stateDir, { event: 'refused', time: new Date().toISOString(), source: 'x', client: { name: 'x', auth: 'x' }, request: 'upgrade', code: '401', reason: 'test' }),
      /ELOOP/,
    );
    const journal = path.join(stateDir, 'journal.jsonl');
    symlinkSync(victim, journal);
    assert.throws(() => JournalWriter.open(journal), /ELOOP/);
    assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
    // A replaced file: the temp name is guessable, so it is created O_EXCL|O_NOFOLLOW.
    const target = path.join(stateDir, 'op.json');
    const realOpen = process.pid;
    symlinkSync(victim, `${target}.tmp-${realOpen}-1`);
    symlinkSync(victim, `${target}.tmp-${realOpen}-2`);
    let wrote = false;
    for (let i = 0; i < 3 && !wrote; i++) {
      try {
        writeJsonAtomicSync(target, { ok: true });
        wrote = true;
      } catch (err) {
        assert.match((err as Error).message, /EEXIST/);
      }
    }
    assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
  });
});
