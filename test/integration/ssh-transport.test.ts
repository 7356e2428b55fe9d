// The extension's fleet code over a real ssh: an ssh:// host entry (hostConfig.ts) becomes
// `ssh … nixfleet-agent stdio --config F` (transportCommand.ts) through a real OpenSSH
// server on 127.0.0.1 to a real agent on the real-Nix test bed. Status, generations, a
// switch whose output streams, the ssh connection killed mid-op (the session reconnects
// and resumes by seq: every journal line once), a rollback, and the ssh failures that
// must stop at once with what to do (unknown host key, refused key, no agent on the
// host), never hang. Last, the Fleet itself (what the extension runs) over ssh, with a
// magic-rollback switch confirmed over a second ssh connection.
import assert from 'node:assert/strict';
import { readlinkSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { OpInfo, OutputLine } from '../../protocol';
import { readAllLines } from '../../agent/journal/reader';
import { openAgentSession } from '../../src/fleet/agentSession';
import { Fleet } from '../../src/fleet/fleet';
import { parseAddress, parseHostsSetting, type HostEntry } from '../../src/fleet/hostConfig';
import type { AgentSession, SessionState } from '../../src/fleet/session';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { startSshd, type SshServer } from '../fixtures/sshd';
import { waitFor } from './agent-harness';

let bed: TestBed;
let sshd: SshServer;
let agentConfig: string;

before(async () => {
  bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
  agentConfig = bed.writeConfig('h1');
  const env: Record<string, string> = { PATH: `${bed.binDir}:/usr/local/bin:/usr/bin:/bin`, NIXFLEET_TESTBED_ROOT: bed.root };
  for (const k of ['GIT_AUTHOR_NAME', 'GIT_AUTHOR_EMAIL', 'GIT_COMMITTER_NAME', 'GIT_COMMITTER_EMAIL']) if (bed.env[k]) env[k] = bed.env[k]!;
  sshd = await startSshd({ env });
});
after(async () => {
  await sshd?.stop();
  await bed?.cleanup();
});

/** An ssh:// host entry as a user writes it in nixfleet.hosts, checked like the extension does. */
function entry(sshConfig: string): HostEntry {
  const r = parseHostsSetting([
    { name: 'h1', address: `ssh://${sshd.user}@127.0.0.1:${sshd.port}`, platform: 'nixos', agentConfig, sshConfig },
  ]);
  assert.deepEqual(r.errors, []);
  return r.hosts[0]!;
}

function open(e: HostEntry): AgentSession {
  return openAgentSession({ entry: e, endpoint: parseAddress(e.name, e.address, e), token: undefined, clientName: 'ssh-test', clientVersion: '1', requestTimeoutMs: 30_000 });
}

function nextState(s: AgentSession, pred: (st: SessionState) => boolean, timeoutMs: number): Promise<SessionState> {
  if (pred(s.state)) return Promise.resolve(s.state);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (off(), reject(new Error(`session state stayed ${JSON.stringify(s.state)} for ${timeoutMs} ms`))), timeoutMs);
    const off = s.onState((st) => {
      if (pred(st)) {
        clearTimeout(timer);
        off();
        resolve(st);
      }
    });
  });
}

/** Collect an op's output through the session until op.end. */
function follow(s: AgentSession, op: string, onLines?: (ls: OutputLine[]) => void): { lines: OutputLine[]; end: Promise<OpInfo> } {
  const lines: OutputLine[] = [];
  const end = new Promise<OpInfo>((resolve) => {
    const off = s.onOpEvent((e) => {
      if (e.type === 'op.output' && e.op === op) {
        lines.push(...e.lines);
        onLines?.(e.lines);
      } else if (e.type === 'op.end' && e.op.id === op) {
        off();
        resolve(e.op);
      }
    });
  });
  return { lines, end };
}

const journalOf = (op: string) => path.join(bed.host('h1').stateDir, 'ops', op, 'journal.jsonl');

describe('the ssh transport through a real sshd', () => {
  test('status, generations, a streamed switch that survives the ssh connection being killed, and a rollback', async (t) => {
    const opened = Date.now();
    const s = open(entry(sshd.sshConfig));
    try {
      const online = await nextState(s, (st) => st.state === 'online', 30_000);
      t.diagnostic(`connected over ssh in ${Date.now() - opened} ms`);
      assert.equal(online.state === 'online' && online.welcome.host, 'h1');
      const status = await s.status();
      assert.equal(status.host, 'h1');
      assert.deepEqual(await s.generations(), []);

      // A first switch: its output streams over ssh and matches the journal on disk.
      const first = follow(s, 'ssh-switch-1');
      await s.startOp({ op: 'ssh-switch-1', kind: 'switch', params: {} });
      await s.subscribeOp('ssh-switch-1', 0);
      const op1 = await first.end;
      assert.equal(op1.state, 'succeeded', op1.error);
      assert.deepEqual(first.lines, await readAllLines(journalOf('ssh-switch-1')));
      const gens1 = await s.generations();
      assert.equal(gens1.length, 1);
      assert.ok(gens1[0]!.current);

      // A second switch with a long activation: kill the ssh session in the middle.
      const rev = await bed.setVersion('h1', '24.05.9');
      bed.setHook('h1', 'i=1; while [ $i -le 400 ]; do echo "hook line $i"; i=$((i+1)); sleep 0.01; done\n');
      let hookLines = 0;
      const second = follow(s, 'ssh-switch-2', (ls) => (hookLines += ls.filter((l) => l.text.startsWith('hook line')).length));
      await s.startOp({ op: 'ssh-switch-2', kind: 'switch', params: { rev } });
      await s.subscribeOp('ssh-switch-2', 0);
      await waitFor('some hook output over ssh', () => hookLines >= 20, 60_000);
      const logins = () => sshd.log().split('\n').filter((l) => l.includes('Accepted publickey')).length;
      const loginsBefore = logins();
      const killed = sshd.killSessions();
      const killedAt = Date.now();
      assert.ok(killed >= 1, 'an ssh session was killed');
      await nextState(s, (st) => st.state !== 'online', 10_000);
      await nextState(s, (st) => st.state === 'online', 30_000);
      const stillRunning = (await s.listOps()).find((o) => o.id === 'ssh-switch-2')?.state === 'running';
      t.diagnostic(`back online ${Date.now() - killedAt} ms after the ssh session was killed (at hook line ${hookLines}; op ${stillRunning ? 'still running' : 'already ended'})`);
      let timer: NodeJS.Timeout | undefined;
      const op2 = await Promise.race([
        second.end,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`op.end not seen within 90 s after the reconnect; sshd: ${sshd.log().slice(-500)}`)), 90_000);
        }),
      ]).finally(() => clearTimeout(timer));
      assert.equal(op2.state, 'succeeded', op2.error);
      assert.equal(s.state.state, 'online', 'the session came back');
      assert.ok(logins() > loginsBefore, 'the client logged in again through sshd after the cut');
      // Every journal line once, in seq order, nothing lost or duplicated by the cut.
      const journal = await readAllLines(journalOf('ssh-switch-2'));
      assert.deepEqual(second.lines, journal);
      second.lines.forEach((l, i) => assert.equal(l.seq, i + 1));
      const hook = second.lines.filter((l) => l.text.startsWith('hook line')).map((l) => l.text);
      assert.deepEqual(hook, Array.from({ length: 400 }, (_, i) => `hook line ${i + 1}`));
      bed.setHook('h1', null);

      const gens2 = await s.generations();
      assert.deepEqual(gens2.map((g) => [g.generation, g.current]).sort((a, b) => (a[0] as number) - (b[0] as number)), [[1, false], [2, true]]);

      // Roll back to generation 1 over ssh; the profile link says so on disk.
      const back = follow(s, 'ssh-rollback-1');
      await s.startOp({ op: 'ssh-rollback-1', kind: 'rollback', params: { to: 1 } });
      await s.subscribeOp('ssh-rollback-1', 0);
      const op3 = await back.end;
      assert.equal(op3.state, 'succeeded', op3.error);
      assert.equal(readlinkSync(bed.host('h1').profile), 'system-1-link');
      assert.deepEqual(back.lines, await readAllLines(journalOf('ssh-rollback-1')));
    } finally {
      bed.setHook('h1', null);
      s.close();
    }
  });

  test('a host key missing from known_hosts stops at once with what to do (BatchMode, no prompt)', async (t) => {
    const started = Date.now();
    const s = open(entry(sshd.clientConfig({ knownHosts: false })));
    try {
      const st = await nextState(s, (x) => x.state === 'offline', 20_000);
      t.diagnostic(`offline (fatal) ${Date.now() - started} ms after opening`);
      const reason = st.state === 'offline' ? st.reason : '';
      assert.match(reason, new RegExp(`ssh to ${sshd.user}@127\\.0\\.0\\.1:${sshd.port}: the host key is not in known_hosts`));
      assert.match(reason, /check the fingerprint and accept it/);
      assert.match(reason, /not retrying/, 'fatal: the client does not retry a key problem');
      assert.ok(Date.now() - started < 20_000);
      // Stays offline: no retry loop hammering the host.
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(s.state.state, 'offline');
    } finally {
      s.close();
    }
  });

  test('a key the host does not authorize stops at once with what to do', async (t) => {
    const started = Date.now();
    const s = open(entry(sshd.clientConfig({ key: 'stranger' })));
    try {
      const st = await nextState(s, (x) => x.state === 'offline', 20_000);
      t.diagnostic(`offline (fatal) ${Date.now() - started} ms after opening`);
      const reason = st.state === 'offline' ? st.reason : '';
      assert.match(reason, new RegExp(`ssh to ${sshd.user}@127\\.0\\.0\\.1:${sshd.port}: the host refused our key \\(Permission denied \\(publickey\\)\\)`));
      assert.match(reason, /authorized_keys/);
      assert.match(reason, /not retrying/);
    } finally {
      s.close();
    }
  });

  test('a host where nixfleet-agent is not on the PATH of ssh sessions stops at once and says to install it', async () => {
    const bare = await startSshd({ agentOnPath: false });
    const e = parseHostsSetting([{ name: 'h1', address: `ssh://${bare.user}@127.0.0.1:${bare.port}`, platform: 'nixos', agentConfig, sshConfig: bare.sshConfig }]).hosts[0]!;
    const s = open(e);
    try {
      const st = await nextState(s, (x) => x.state === 'offline', 20_000);
      const reason = st.state === 'offline' ? st.reason : '';
      assert.match(reason, new RegExp(`ssh to ${bare.user}@127\\.0\\.0\\.1:${bare.port}: nixfleet-agent is not on the PATH of non-interactive ssh sessions on the host`));
      assert.match(reason, /install the agent there/);
      assert.match(reason, /not retrying/);
    } finally {
      s.close();
      await bare.stop();
    }
  });

  test('the Fleet over ssh: hosts online with generations, a key problem shown on its host, a pull and a magic-rollback switch confirmed over a second ssh connection', async () => {
    const config = bed.writeConfig('h1', { confirmTimeout: 20 });
    const settings = parseHostsSetting([
      { name: 'h1', address: `ssh://${sshd.user}@127.0.0.1:${sshd.port}`, platform: 'nixos', agentConfig: config, sshConfig: sshd.sshConfig },
      { name: 'h2', address: `ssh://${sshd.user}@127.0.0.1:${sshd.port}`, platform: 'nixos', agentConfig: config, sshConfig: sshd.clientConfig({ knownHosts: false }) },
    ]);
    assert.deepEqual(settings.errors, []);
    const fleet = new Fleet({
      openSession: (e, endpoint, token) => openAgentSession({ entry: e, endpoint, token, clientName: 'ssh-fleet-test', clientVersion: '1', requestTimeoutMs: 30_000 }),
      getToken: async () => undefined,
      connectWaitMs: 20_000,
      refreshDelayMs: 20,
    });
    try {
      fleet.configure(settings.hosts, [], []);
      await fleet.start();
      const h1 = await waitFor('h1 online with generations over ssh', () => {
        const x = fleet.host('h1');
        return x?.connection === 'online' && x.generations?.length ? x : undefined;
      }, 30_000);
      assert.equal(h1.generations!.find((g) => g.current)!.generation, Number(/-(\d+)-link$/.exec(readlinkSync(bed.host('h1').profile))![1]));
      const h2 = await waitFor('h2 offline', () => (fleet.host('h2')?.connection === 'offline' ? fleet.host('h2') : undefined), 20_000);
      assert.match(h2!.problem!, /host key is not in known_hosts.*not retrying: fix it, then Refresh h2/);

      const notices: string[] = [];
      fleet.onNotice.on((n) => n.host === 'h1' && notices.push(n.text));
      const rev = await bed.setVersion('h1', '24.05.11');
      const pulled = await fleet.runOp('h1', 'pull', {});
      assert.equal(pulled.state, 'succeeded', pulled.error);
      const logins = () => sshd.log().split('\n').filter((l) => l.includes('Accepted publickey')).length;
      const before = logins();
      const sw = await fleet.runOp('h1', 'switch', {}, { magicRollback: true });
      assert.equal(sw.state, 'succeeded', sw.error);
      assert.equal(sw.result!.revision, rev);
      assert.equal(readlinkSync(bed.host('h1').profile), `system-${sw.result!.generationAfter}-link`);
      assert.ok(notices.some((t) => /confirmed op .* over a new connection/.test(t)), notices.join('\n'));
      assert.ok(logins() > before, 'the confirmation came over a new ssh login');
    } finally {
      fleet.dispose();
    }
  });
});
