// The controller CLI (`node dist/nixfleet.js`) against real agents on the real-Nix test
// bed: hosts --json, switch and rollback --to N checked on the profile links on disk,
// log --follow of a running op across an agent restart (every line once), and the
// refusals: no --yes without a terminal, bad arguments, a tokens file others can read.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { generation, hostStatus, opInfo } from '../../protocol';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { AGENT_JS, startAgent, waitFor, type RunningAgent } from './agent-harness';
import { assertFollowedOnce, NIXFLEET_JS, profileGeneration, runCli, startCli, startCliOnTerminal, writeFleetFiles } from './cli-harness';

const execFileP = promisify(execFile);

const oneSentence = (stderr: string, re?: RegExp) => {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got: ${stderr}`);
  assert.match(lines[0]!, /^nixfleet: .{10,}/);
  if (re) assert.match(lines[0]!, re);
};

describe('nixfleet CLI: one host', { skip: (!existsSync(AGENT_JS) || !existsSync(NIXFLEET_JS)) && 'dist/ missing: run npm run build' }, () => {
  let bed: TestBed;
  let agent: RunningAgent;
  let files: ReturnType<typeof writeFleetFiles>;
  let common: string[];
  let profile: string;

  before(async () => {
    bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    profile = bed.host('h1').profile;
    // Generation 1: what rollback --to 1 returns to.
    const storePath = await bed.build('h1', bed.workstation);
    await execFileP('nix-env', ['-p', profile, '--set', storePath], { env: bed.env });
    agent = await startAgent(bed, 'h1');
    // h9: in the hosts file, but nothing listens on its port.
    files = writeFleetFiles([{ name: 'h1', url: agent.url }, { name: 'h9', url: 'ws://127.0.0.1:9' }], bed.token);
    common = ['--hosts-file', files.hostsFile, '--tokens-file', files.tokensFile];
  });

  after(async () => {
    await agent?.stop();
    files?.cleanup();
    await bed?.cleanup();
  });

  it('hosts --json: name, platform, online, generation and running op of every host; an offline host is data, not a failure', async () => {
    const r = await runCli(['hosts', '--json', ...common]);
    assert.equal(r.status, 0, r.stderr);
    const list = JSON.parse(r.stdout) as { name: string; platform: string; online: boolean; generation: number | null; runningOp: unknown; error?: string }[];
    assert.deepEqual(list.map((h) => h.name), ['h1', 'h9']);
    const [h1, h9] = list;
    assert.equal(h1!.online, true);
    assert.equal(h1!.platform, 'nixos');
    assert.equal(h1!.generation, profileGeneration(profile));
    assert.equal(h1!.runningOp, null);
    assert.equal(h9!.online, false);
    assert.equal(h9!.generation, null);
    assert.match(h9!.error!, /host h9 is offline \(.*ECONNREFUSED.*\); check that its agent runs and is reachable at ws:\/\/127\.0\.0\.1:9/);
    // Piped (no terminal): one tab-separated line per host, no header.
    const plain = await runCli(['hosts', ...common]);
    assert.equal(plain.status, 0);
    assert.deepEqual(plain.stdout.trim().split('\n').map((l) => l.split('\t').slice(0, 4)), [
      ['h1', 'nixos', 'online', String(profileGeneration(profile))],
      ['h9', 'nixos', 'offline', '-'],
    ]);
  });

  it('switch --yes makes a new generation on disk; rollback --to 1 --yes puts the profile link back; generations --json agrees', async () => {
    const commit = await bed.setVersion('h1', '24.05.7');
    const before = profileGeneration(profile);
    const sw = await runCli(['switch', 'h1', '--rev', commit, '--yes', '--json', ...common]);
    assert.equal(sw.status, 0, sw.stderr);
    const op = opInfo.parse(JSON.parse(sw.stdout));
    assert.equal(op.state, 'succeeded');
    assert.equal(op.result?.generationAfter, before + 1);
    assert.equal(profileGeneration(profile), before + 1, 'the profile link moved on disk');
    // Magic rollback is on by default: the CLI confirmed over a second connection, so the host kept it.
    assert.match(sw.stderr, /confirmed op \S+ over a new connection: host h1 is still reachable/);
    assert.match(sw.stderr, /switch-to-configuration: activated/);

    const st = await runCli(['status', 'h1', '--json', ...common]);
    assert.equal(st.status, 0, st.stderr);
    assert.equal(hostStatus.parse(JSON.parse(st.stdout)).currentRevision, commit);
    // The Fleet view's rows, as text.
    const human = await runCli(['status', 'h1', ...common]);
    assert.equal(human.status, 0, human.stderr);
    assert.match(human.stdout, /^h1 \(nixos, Nix [\d.]+, switch method \S+\)$/m);
    assert.match(human.stdout, /^ {2}Agent {3}online · \S+$/m);
    assert.match(human.stdout, new RegExp(`^  System  generation ${before + 1} from ${commit.slice(0, 7)}$`, 'm'));
    assert.match(human.stdout, /^ {2}Op {6}none running$/m);

    const rb = await runCli(['rollback', 'h1', '--to', '1', '--yes', ...common]);
    assert.equal(rb.status, 0, rb.stderr);
    assert.match(rb.stderr, /rollback on h1 succeeded: generation \d+ → 1/);
    assert.equal(profileGeneration(profile), 1, 'the profile link is back on generation 1');
    const gens = await runCli(['generations', 'h1', '--json', ...common]);
    assert.equal(gens.status, 0, gens.stderr);
    const list = (JSON.parse(gens.stdout) as unknown[]).map((g) => generation.parse(g));
    assert.deepEqual(list.filter((g) => g.current).map((g) => g.generation), [1]);
    const table = await runCli(['generations', 'h1', ...common]);
    const rows = table.stdout.trim().split('\n').map((l) => l.split('\t'));
    assert.deepEqual(rows.map((r) => Number(r[0])), list.map((g) => g.generation).reverse(), 'newest first');
    assert.match(rows.at(-1)!.join(' | '), /^1 \| .* \| current/);
    assert.match(rows[0]!.join(' | '), new RegExp(`^${before + 1} \\| .* \\| ${commit.slice(0, 7)} \\| `));

    // A generation that does not exist: refused by the CLI before anything runs, exit 1.
    const missing = await runCli(['rollback', 'h1', '--to', '99', '--yes', ...common]);
    assert.equal(missing.status, 1);
    oneSentence(missing.stderr, /host h1 has no generation 99/);
    assert.equal(profileGeneration(profile), 1);
  });

  it('a mutating command without --yes and without a terminal refuses in one sentence and changes nothing', async () => {
    const gen = profileGeneration(profile);
    const activations = bed.activations('h1').length;
    for (const args of [['switch', 'h1'], ['rollback', 'h1', '--to', '1'], ['pull', 'h1'], ['cancel', 'h1'], ['deploy', '--rev', 'abcdef1']]) {
      const r = await runCli([...args, ...common]);
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
      oneSentence(r.stderr, /there is no terminal to confirm it on: pass --yes/);
      assert.equal(r.stdout, '');
    }
    assert.equal(profileGeneration(profile), gen);
    assert.equal(bed.activations('h1').length, activations, 'nothing was activated');
  });

  it('on a terminal it asks: "n" changes nothing, "y" goes ahead; the hosts table has a header', async () => {
    const gen = profileGeneration(profile);
    const activations = bed.activations('h1').length;
    const no = startCliOnTerminal(['switch', 'h1', ...common]);
    await waitFor('the question', () => /Switch h1 \(nixos, generation \d+, checkout \S+ at [0-9a-f]{7}\) to its checkout's configuration\? \[y\/N\] $/.test(no.stdout()), 30_000);
    no.answer('n');
    const nor = await no.done;
    assert.equal(nor.status, 1, nor.stdout);
    assert.match(nor.stdout, /nixfleet: switch h1 not confirmed; nothing was changed/);
    assert.equal(profileGeneration(profile), gen);
    assert.equal(bed.activations('h1').length, activations);

    const yes = startCliOnTerminal(['pull', 'h1', ...common]);
    await waitFor('the question', () => /Update the checkout of h1 .* from its upstream\? \[y\/N\] $/.test(yes.stdout()), 30_000);
    yes.answer('y');
    const yr = await yes.done;
    assert.equal(yr.status, 0, yr.stdout);
    assert.match(yr.stdout, /pull on h1 succeeded/);

    const table = await startCliOnTerminal(['hosts', ...common]).done;
    assert.equal(table.status, 0, table.stdout);
    assert.match(table.stdout, /^HOST +PLATFORM +ONLINE +GENERATION +OP\r?$/m);
    assert.match(table.stdout, /^h1 +nixos +online +\d+ +-\r?$/m);
  });

  it('cancel stops the running op; Ctrl-C on a running switch cancels its op too', async () => {
    bed.setHook('h1', 'sleep 30');
    try {
      const sw = startCli(['switch', 'h1', '--yes', '--op-id', 'cli-cancel-1', '--no-magic-rollback', ...common]);
      await waitFor('the activation to start', () => /activating: /.test(sw.stderr()), 60_000);
      const c = await runCli(['cancel', 'h1', '--yes', ...common]);
      assert.equal(c.status, 0, c.stderr);
      assert.match(c.stderr, /^switch cli-cancel-1 on h1: cancelled$/m);
      const swr = await sw.done;
      assert.equal(swr.status, 1);
      assert.match(swr.stderr, /nixfleet: switch on h1 cancelled/);
      const nothing = await runCli(['cancel', 'h1', '--yes', ...common]);
      assert.equal(nothing.status, 1);
      oneSentence(nothing.stderr, /host h1 runs no op: nothing to cancel/);

      const sw2 = startCli(['switch', 'h1', '--yes', '--op-id', 'cli-sigint-1', '--no-magic-rollback', ...common]);
      await waitFor('the activation to start', () => /activating: /.test(sw2.stderr()), 60_000);
      sw2.kill('SIGINT');
      const r2 = await sw2.done;
      assert.equal(r2.status, 1);
      assert.match(r2.stderr, /cancelling switch cli-sigint-1 on h1/);
      const log = await runCli(['log', 'h1', 'cli-sigint-1', '--json', ...common]);
      assert.equal(log.status, 1);
      assert.equal(opInfo.parse((JSON.parse(log.stdout) as { op: unknown }).op).state, 'cancelled');
    } finally {
      bed.setHook('h1', null);
    }
  });

  it('every command has --help: usage, summary and options on stdout, exit 0', async () => {
    for (const name of ['hosts', 'status', 'generations', 'switch', 'force-rebuild', 'rollback', 'test', 'pull', 'cancel', 'deploy', 'log']) {
      const r = await runCli([name, '--help']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^nixfleet ${name}\\b`));
      assert.match(r.stdout, /\nOptions:\n[\s\S]*--hosts-file FILE/);
    }
    const main = await runCli(['--help']);
    assert.equal(main.status, 0);
    assert.match(main.stdout, /^ {2}deploy +deploy a commit to hosts/m);
  });

  it('log --follow prints every journal line of a running op once, across a kill -9 and restart of the agent', async () => {
    const n = 60;
    // The activation prints n numbered lines, slowly enough for the agent to die in between.
    bed.setHook('h1', `i=1; while [ $i -le ${n} ]; do echo "tick-$i"; i=$((i+1)); sleep 0.05; done`);
    const opId = 'cli-follow-1';
    const sw = startCli(['switch', 'h1', '--yes', '--op-id', opId, '--no-magic-rollback', ...common]);
    await waitFor('the switch to print its first tick', () => /tick-1\b/.test(sw.stdout()), 60_000);
    const text = startCli(['log', 'h1', opId, '--follow', ...common]);
    const json = startCli(['log', 'h1', opId, '--follow', '--json', ...common]);
    await waitFor('log --follow to print a tick', () => /tick-\d+/.test(text.stdout()), 30_000);
    await waitFor('log --follow --json to be connected', () => /following op cli-follow-1 on h1/.test(json.stderr()), 30_000);
    // The worker runs detached: the op goes on while the agent is down, and the restarted agent serves its journal.
    await agent.kill9();
    agent = await startAgent(bed, 'h1', { port: agent.port });
    const [swr, tr, jr] = await Promise.all([sw.done, text.done, json.done]);
    bed.setHook('h1', null);
    assert.equal(swr.status, 0, swr.stderr);
    assertFollowedOnce(tr, jr, n);
    // Without --follow: the journal as it is, the op's outcome as the exit status.
    const snap = await runCli(['log', 'h1', opId, ...common]);
    assert.equal(snap.status, 0);
    assert.equal(snap.stdout.split('\n').filter((l) => /^tick-\d+$/.test(l)).length, n);
  });

  it('output into a slow pipe is complete: 20000 journal lines through log --json', async () => {
    bed.setHook('h1', 'seq 1 20000');
    try {
      const big = await runCli(['switch', 'h1', '--yes', '--op-id', 'cli-big-1', '--no-magic-rollback', ...common]);
      assert.equal(big.status, 0, big.stderr);
    } finally {
      bed.setHook('h1', null);
    }
    const slow = startCli(['log', 'h1', 'cli-big-1', '--json', ...common], {}, 180_000, { pauseStdoutMs: 500 });
    const r = await slow.done;
    assert.equal(r.status, 0, r.stderr);
    const { op, lines } = JSON.parse(r.stdout) as { op: { lastSeq: number }; lines: { seq: number; text: string }[] };
    assert.equal(lines.length, op.lastSeq);
    assert.equal(lines.filter((l) => /^\d+$/.test(l.text)).length, 20000);
  });

  it('bad arguments: exit 2 with one sentence naming the argument, before anything connects', async () => {
    const table: [string[], RegExp][] = [
      [['frobnicate'], /unknown command "frobnicate"/],
      [['switch'], /switch: give the host name/],
      [['switch', 'h1;reboot'], /"h1;reboot" is not a host name/],
      [['switch', 'nosuch'], /host nosuch is not in hosts file .*; known hosts: h1, h9/],
      [['switch', 'h1', 'extra'], /unexpected argument "extra"/],
      [['switch', 'h1', '--no-such-flag'], /switch: unknown option --no-such-flag; see "nixfleet switch --help"/],
      [['switch', 'h1', '--rev'], /--rev needs a value/],
      [['switch', 'h1', '--yes=no'], /--yes takes no value/],
      [['switch', 'h1', '--rev', 'main'], /--rev takes a commit hash/],
      [['rollback', 'h1'], /rollback: say which generation with --to N/],
      [['rollback', 'h1', '--to', '1;reboot'], /"1;reboot" is not a generation number/],
      [['rollback', 'h1', '--to', '0'], /is not a generation number/],
      [['rollback', 'h1', '--to', '2.5'], /is not a generation number/],
      [['deploy'], /deploy: give the commit with --rev COMMIT/],
      [['deploy', '--rev', 'abcdef1', '--parallelism', '0'], /--parallelism takes a whole number from 1 to 256, not "0"/],
      [['deploy', '--rev', 'abcdef1', '--parallelism', '4x'], /--parallelism takes a whole number from 1 to 256, not "4x"/],
      [['deploy', '--rev', 'abcdef1', '--hosts', 'h1,,h9'], /--hosts takes host names separated by commas/],
      [['deploy', '--rev', 'abcdef1', '--hosts', 'h1,h1'], /--hosts names host h1 twice/],
      [['deploy', '--rev', 'abcdef1', '--hosts', 'h1', '--canaries', 'h9'], /canary h9 is not one of the hosts deployed to/],
      [['log', 'h1'], /log: give the op id/],
      [['log', 'h1', '../etc'], /"..\/etc" is not an op id/],
      [['log', 'h1', 'op1', '--from-seq', '-1'], /--from-seq/],
      [['switch', 'h1', '--op-id', 'bad id'], /--op-id "bad id" is not an op id/],
      [['pull', 'h1', '--ref', '--force'], /--ref needs a value/],
    ];
    for (const [args, re] of table) {
      const r = await runCli([...args, ...common]);
      assert.equal(r.status, 2, `${args.join(' ')} → ${r.status}: ${r.stderr}`);
      oneSentence(r.stderr, re);
    }
    const noHosts = await runCli(['hosts']);
    assert.equal(noHosts.status, 2);
    oneSentence(noHosts.stderr, /--hosts-file FILE .* or \$NIXFLEET_HOSTS_FILE/);
    // A hosts file entry the extension's schema refuses: the whole file is refused, naming the entry.
    const bad = path.join(files.dir, 'bad-hosts.json');
    writeFileSync(bad, JSON.stringify([{ name: 'h1', address: 'http://x', platform: 'nixos' }]));
    const badr = await runCli(['hosts', '--hosts-file', bad]);
    assert.equal(badr.status, 2);
    oneSentence(badr.stderr, /hosts file .*bad-hosts\.json: entry "h1": .*address scheme "http:" is not supported/);
  });

  it('tokens: a 0644 or foreign-owned tokens file is refused; NIXFLEET_TOKEN_<HOST> works alone; a ws host without a token is refused before connecting', async () => {
    const loose = path.join(files.dir, 'tokens-loose');
    writeFileSync(loose, `h1 ${bed.token}\n`);
    chmodSync(loose, 0o644);
    const r = await runCli(['hosts', '--hosts-file', files.hostsFile, '--tokens-file', loose]);
    assert.equal(r.status, 2);
    oneSentence(r.stderr, /tokens file .*tokens-loose is readable or writable by group or others \(mode 644\); run: chmod 600/);
    assert.equal(r.stdout, '');
    if (process.getuid?.() === 0) {
      const foreign = path.join(files.dir, 'tokens-foreign');
      writeFileSync(foreign, `h1 ${bed.token}\n`, { mode: 0o600 });
      chownSync(foreign, 65534, 65534);
      const f = await runCli(['hosts', '--hosts-file', files.hostsFile, '--tokens-file', foreign]);
      assert.equal(f.status, 2);
      oneSentence(f.stderr, /is owned by uid 65534, not by you \(uid 0\)/);
    }
    const malformed = path.join(files.dir, 'tokens-bad');
    writeFileSync(malformed, `h1\n`, { mode: 0o600 });
    const m = await runCli(['hosts', '--hosts-file', files.hostsFile, '--tokens-file', malformed]);
    assert.equal(m.status, 2);
    oneSentence(m.stderr, /line 1 is not "HOST TOKEN"/);

    const noToken = await runCli(['switch', 'h1', '--yes', '--hosts-file', files.hostsFile]);
    assert.equal(noToken.status, 1);
    oneSentence(noToken.stderr, /no token for host h1 .*NIXFLEET_TOKEN_H1/);
    const wrong = await runCli(['test', 'h1', '--hosts-file', files.hostsFile], { NIXFLEET_TOKEN_H1: 'not-the-token' });
    assert.equal(wrong.status, 1);
    oneSentence(wrong.stderr, /host h1 is offline \(the agent refused the token \(401\)/);
    const env = await runCli(['test', 'h1', '--json', '--hosts-file', files.hostsFile], { NIXFLEET_TOKEN_H1: bed.token });
    assert.equal(env.status, 0, env.stderr);
    assert.equal(opInfo.parse(JSON.parse(env.stdout)).state, 'succeeded');
  });
});
