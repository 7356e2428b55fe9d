// Deploy planning, op ids, the bounded pool, the audit log on a real file, the summary model.
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { OP_ID_RE } from '../../protocol';
import { AuditLog } from '../../src/deploy/audit';
import { DeployService } from '../../src/deploy/service';
import type { DeployAgents } from '../../src/deploy/types';
import { deployOpId, eachLimited, planDeploy } from '../../src/deploy/plan';
import { summarizeDeploy } from '../../src/deploy/summary';
import { describeRollback, markReverted, rollbackCandidates } from '../../src/deploy/undo';

const commit = 'a'.repeat(40);

describe('deploy: plan', () => {
  it('orders canaries first (in setting order), ignores canaries not chosen, keeps the rest in order', () => {
    const r = planDeploy({ target: { commit }, hosts: ['h3', 'h1', 'alice@h2', 'h4'], canaries: ['h4', 'h9', 'h1'], parallelism: 3, who: 'alice' });
    assert.deepEqual(r.hosts.map((h) => [h.host, h.canary]), [['h4', true], ['h1', true], ['h3', false], ['alice@h2', false]]);
    assert.deepEqual(r.canaries, ['h4', 'h1']);
    assert.equal(r.state, 'planned');
    assert.ok(r.hosts.every((h) => h.outcome === 'pending' && !h.switchStarted));
  });

  it('refuses bad input with the reason', () => {
    const base = { target: { commit }, hosts: ['h1'], who: 'alice' };
    assert.throws(() => planDeploy({ ...base, target: { commit: 'main; rm -rf /' } }), /not a commit hash/);
    assert.throws(() => planDeploy({ ...base, hosts: [] }), /No hosts were chosen/);
    assert.throws(() => planDeploy({ ...base, hosts: ['h1', 'h1'] }), /chosen twice/);
    assert.throws(() => planDeploy({ ...base, hosts: ['-rf'] }), /not a host name/);
    assert.throws(() => planDeploy({ ...base, parallelism: 0 }), /parallelism must be a whole number from 1 to 256/);
    assert.throws(() => planDeploy({ ...base, parallelism: 2.5 }), /parallelism/);
    assert.throws(() => planDeploy({ ...base, who: '' }), /user name/);
  });

  it('op ids are valid protocol op ids, stable per deploy/step/host, distinct per host and attempt', () => {
    const a = deployOpId('abc123', 'switch', 'alice@h3');
    assert.match(a, OP_ID_RE);
    assert.equal(a, deployOpId('abc123', 'switch', 'alice@h3'));
    assert.notEqual(a, deployOpId('abc123', 'switch', 'h3'));
    assert.notEqual(deployOpId('abc123', 'rollback', 'h3'), deployOpId('abc123', 'rollback', 'h3', 2));
    assert.match(deployOpId('k'.repeat(20), 'force-rebuild', 'x'.repeat(63)), OP_ID_RE);
  });
});

describe('deploy: bounded pool', () => {
  it('never runs more than the limit at once and starts nothing after stop', async () => {
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    let stop = false;
    await eachLimited([1, 2, 3, 4, 5, 6, 7, 8], 3, () => stop, async (n) => {
      started.push(n);
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 10 + (n % 3) * 5));
      if (n === 4) stop = true;
      running--;
    });
    assert.equal(peak, 3);
    assert.ok(!started.includes(8), `nothing started after the stop: ${started}`);
    assert.ok(started.includes(4));
  });
});

describe('deploy: audit log', () => {
  it('appends one JSON line per event (0600), skips a torn line, and finds the latest state of each deploy', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-audit-'));
    try {
      const log = new AuditLog(path.join(dir, 'sub', 'audit.jsonl'));
      const r = planDeploy({ target: { commit, pr: { number: 5 } }, hosts: ['h1', 'h2'], who: 'alice' });
      r.state = 'failed';
      Object.assign(r.hosts[0]!, { outcome: 'succeeded', switchStarted: true, generationBefore: 3, generationAfter: 4 });
      Object.assign(r.hosts[1]!, { outcome: 'failed-checks', switchStarted: true, generationBefore: 7, generationAfter: 8, error: 'host h2: health checks failed' });
      log.append('deploy.end', 'alice', r);
      appendFileSync(log.file, '{"torn": tr');
      markReverted(r, { how: 'git', revertCommit: 'b'.repeat(40), at: new Date().toISOString() }, 'bob', log);
      const entries = log.entries();
      assert.equal(entries.length, 2);
      assert.deepEqual(entries[0]!.hosts, [
        { host: 'h1', from: 3, to: 4, outcome: 'succeeded' },
        { host: 'h2', from: 7, to: 8, outcome: 'failed-checks', error: 'host h2: health checks failed' },
      ]);
      assert.equal(entries[0]!.pr, 5);
      assert.equal(entries[1]!.event, 'revert');
      assert.equal(entries[1]!.who, 'bob');
      assert.equal(log.lastDeploy()!.hosts[0]!.outcome, 'reverted');
      assert.equal(statSync(log.file).mode & 0o777, 0o600);
      assert.equal(readFileSync(log.file, 'utf8').split('\n').filter(Boolean).length, 3, 'the torn line stays on its own line');
      assert.throws(() => new AuditLog('relative.jsonl'), /must be absolute/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('deploy: summary and rollback planning', () => {
  it('names the stopping host and its failing line; rollback covers only hosts that switched', () => {
    const r = planDeploy({ target: { commit, pr: { number: 9, title: 'Bump' } }, hosts: ['h1', 'h2', 'h3'], canaries: ['h1'], who: 'alice' });
    r.state = 'failed';
    r.stoppedBy = 'h2';
    Object.assign(r.hosts[0]!, { outcome: 'succeeded', switchStarted: true, generationBefore: 1, generationAfter: 2 });
    Object.assign(r.hosts[1]!, { outcome: 'failed-checks', switchStarted: true, generationBefore: 5, generationAfter: 6, failingLine: 'web: 503' });
    Object.assign(r.hosts[2]!, { outcome: 'not-attempted' });
    const s = summarizeDeploy(r);
    assert.equal(s.headline, 'Deploy of PR #9 "Bump" (merge aaaaaaaaaaaa) failed on h2: web: 503');
    assert.deepEqual(s.rows.map((x) => [x.host, x.role, x.label, x.generations]), [
      ['h1', 'canary', 'succeeded', '1 → 2'],
      ['h2', '', 'failed (health checks)', '5 → 6'],
      ['h3', '', 'not attempted', '—'],
    ]);
    assert.equal(s.canRollback, true);
    assert.equal(s.canRevert, true);
    assert.equal(s.revertLabel, 'Revert PR');
    assert.deepEqual(rollbackCandidates(r).map((h) => h.host), ['h1', 'h2']);
    assert.deepEqual(describeRollback(r, ['h2']), ['h2: back to generation 5 (from 6)']);
  });
});

describe('deploy: summary while previewing', () => {
  it('says it builds while hosts build, and that it waits for the user once every diff is in', () => {
    const r = planDeploy({ target: { commit }, hosts: ['h1', 'h2'], who: 'alice' });
    r.state = 'previewing';
    Object.assign(r.hosts[0]!, { phase: 'build' });
    Object.assign(r.hosts[1]!, { phase: undefined, closureDiff: ['hello: 2.12 → 2.13'] });
    assert.match(summarizeDeploy(r).headline, /^Building .* on 2 hosts for the closure diff…$/);
    Object.assign(r.hosts[0]!, { phase: undefined, closureDiff: [] });
    assert.match(summarizeDeploy(r).headline, /^Closure diffs of .* ready on 2 hosts: waiting for you to confirm the deploy$/);
    assert.equal(summarizeDeploy(r).canRollback, false);
    assert.equal(summarizeDeploy(r).revertLabel, 'Revert Commit', 'a commit deploy reverts the commit');
    // A failed switch the agent undid reads "before → failed ✗ → back".
    Object.assign(r.hosts[1]!, { outcome: 'failed-switch', generationBefore: 3, generationAfter: 3, generationFailed: 6 });
    assert.equal(summarizeDeploy(r).rows[1]!.generations, '3 → 6 ✗ → 3');
  });
});

describe('deploy: a deploy cut off mid-run', () => {
  it('reads back from the audit log as interrupted, and its switched hosts can still be rolled back', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-audit-'));
    try {
      const file = path.join(dir, 'audit.jsonl');
      const r = planDeploy({ target: { commit }, hosts: ['h1', 'h2'], who: 'alice' });
      r.state = 'running';
      Object.assign(r.hosts[0]!, { outcome: 'running', phase: 'switch', switchStarted: true, generationBefore: 4 });
      new AuditLog(file).append('deploy.start', 'alice', r);
      // No agent is contacted by reading the log.
      const unused: DeployAgents = { status: () => Promise.reject(new Error('unused')), runOp: () => Promise.reject(new Error('unused')) };
      const last = new DeployService({ agents: unused, auditFile: file }).last()!;
      assert.equal(last.id, r.id);
      assert.equal(last.state, 'interrupted');
      const s = summarizeDeploy(last);
      assert.match(s.headline, /interrupted/);
      assert.equal(s.canRollback, true);
      assert.deepEqual(describeRollback(last), ['h1: back to generation 4']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
