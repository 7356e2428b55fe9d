// The refusal log's rate limit, with a controlled clock: per source, per window, per hour,
// one summary per window for what was left out, records bounded in size, and the token
// file re-read on change (rotation without restart), on temp dirs.
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdtempSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { readAudit, readRefusals, type RefusalRecord, type RefusalSummaryRecord } from '../../agent/journal/audit';
import { auditFile } from '../../agent/journal/paths';
import { RefusalLog, type Refusal } from '../../agent/server/refusalLog';
import { TokenFile, tokenIdentity, type TokenState } from '../../agent/server/auth';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tmp(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'nixfleet-refusals-'));
  dirs.push(d);
  return d;
}

const attempt = (source: string, extra: Partial<Refusal> = {}): Refusal => ({
  source,
  client: { name: 'x', auth: 'none', address: `${source}:1234` },
  request: 'upgrade',
  code: '401',
  reason: 'invalid bearer token',
  ...extra,
});

test('per source and per window: at most N records, then one summary with the count left out', () => {
  const dir = tmp();
  let now = Date.parse('2026-11-22T10:00:00Z');
  const log = new RefusalLog(dir, { perSource: 3, perWindow: 5, perHour: 100, windowMs: 60_000 }, () => now);
  const written: boolean[] = [];
  for (let i = 0; i < 10; i++) written.push(log.record(attempt('10.0.0.1')));
  assert.deepEqual(written, [true, true, true, false, false, false, false, false, false, false]);
  // Another source still gets its own records, until the window's total is reached.
  for (let i = 0; i < 4; i++) written.push(log.record(attempt('10.0.0.2', { code: 'busy', request: 'op.start' })));
  assert.deepEqual(written.slice(10), [true, true, false, false]);
  assert.equal(readRefusals(dir).length, 5);
  now += 61_000;
  log.record(attempt('10.0.0.1')); // a new window: the summary of the old one comes first
  const recs = readRefusals(dir);
  assert.equal(recs.length, 7);
  const summary = recs[5] as RefusalSummaryRecord;
  assert.equal(summary.event, 'refused-summary');
  assert.equal(summary.suppressed, 9);
  assert.deepEqual(summary.bySource, { '10.0.0.1': 7, '10.0.0.2': 2 });
  assert.deepEqual(summary.byCode, { '401': 7, busy: 2 });
  assert.equal(summary.from, '2026-11-22T10:00:00.000Z');
  assert.equal((recs[6] as RefusalRecord).event, 'refused');
  // Refusals are not op records.
  assert.deepEqual(readAudit(dir), []);
  log.close();
  assert.equal(readRefusals(dir).length, 7, 'nothing left out in the new window: no summary');
});

test('a flood from many sources over an hour stays bounded (hourly cap + one summary a minute)', () => {
  const dir = tmp();
  let now = Date.parse('2026-11-22T10:00:00Z');
  const log = new RefusalLog(dir, { perSource: 10, perWindow: 50, perHour: 200, windowMs: 60_000 }, () => now);
  let attempts = 0;
  for (let minute = 0; minute < 60; minute++) {
    for (let i = 0; i < 2000; i++) {
      // 2000 attempts a minute from ever-new sources, with parameters as large as a frame allows.
      log.record(attempt(`2001:db8::${minute}:${i}`, { request: 'op.start', params: 'x'.repeat(100_000), op: 'y'.repeat(10_000) }));
      attempts++;
    }
    now += 60_000;
  }
  log.close();
  const recs = readRefusals(dir);
  const full = recs.filter((r) => r.event === 'refused');
  const summaries = recs.filter((r): r is RefusalSummaryRecord => r.event === 'refused-summary');
  assert.equal(full.length, 200, 'the hourly cap');
  assert.equal(summaries.length, 60, 'one summary per window');
  const counted = summaries.reduce((n, s) => n + s.suppressed, 0);
  assert.equal(counted + full.length, attempts, 'every attempt is either a record or counted');
  // 1000 sources are told apart per window; the rest are counted without a name.
  assert.ok(summaries.every((s) => Object.keys(s.bySource).length <= 20));
  assert.ok(summaries.some((s) => (s.untracked ?? 0) > 0 && (s.otherSources?.sources ?? 0) > 0));
  const size = statSync(auditFile(dir)).size;
  assert.ok(size < 600_000, `audit log grew ${size} bytes for ${attempts} attempts`);
  assert.ok(full.every((r) => (r.params?.length ?? 0) <= 513 && (r.op?.length ?? 0) <= 81));
});

test('a write that fails (state dir gone) is reported once and does not throw', () => {
  const dir = tmp();
  const warnings: string[] = [];
  const log = new RefusalLog(path.join(dir, 'missing'), undefined, undefined, (t) => warnings.push(t));
  assert.equal(log.record(attempt('a')), true);
  log.record(attempt('a'));
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /cannot write the audit log .*refused attempts are not being recorded/);
});

test('the token file is re-read when it changes; an unusable file yields no tokens, not the old ones', () => {
  const dir = tmp();
  const file = path.join(dir, 'tokens');
  writeFileSync(file, 'old-token-aaaaaaaaaaaa\n', { mode: 0o600 });
  const changes: TokenState[] = [];
  const tf = new TokenFile(file, (s) => changes.push(s));
  assert.equal(tf.current().tokens?.match('old-token-aaaaaaaaaaaa'), tokenIdentity('old-token-aaaaaaaaaaaa'));
  assert.equal(changes.length, 0, 'unchanged: no reload');
  // Rotation by rename (atomic): the new token works, the old one no longer does.
  writeFileSync(path.join(dir, 'tokens.new'), 'new-token-bbbbbbbbbbbb\n', { mode: 0o600 });
  renameSync(path.join(dir, 'tokens.new'), file);
  assert.equal(tf.current().tokens?.match('old-token-aaaaaaaaaaaa'), undefined);
  assert.ok(tf.current().tokens?.match('new-token-bbbbbbbbbbbb'));
  assert.equal(changes.length, 1);
  chmodSync(file, 0o644);
  const loose = tf.current();
  assert.equal(loose.tokens, undefined);
  assert.match(loose.error!, /readable by group or others .*chmod 600/);
  unlinkSync(file);
  assert.match(tf.current().error!, /cannot be read \(ENOENT\)/);
  writeFileSync(file, '# only a comment\n', { mode: 0o600 });
  assert.match(tf.current().error!, /holds no token/);
  writeFileSync(file, 'new-token-bbbbbbbbbbbb\n', { mode: 0o600 });
  assert.ok(tf.current().tokens?.match('new-token-bbbbbbbbbbbb'));
  assert.equal(changes.length, 5);
  // A rotation to a file another user owns is refused as at start, not only a loose mode.
  const other = (process.geteuid?.() ?? 0) === 0 ? 65534 : undefined;
  if (other !== undefined) {
    chownSync(file, other, other);
    const foreign = tf.current();
    assert.equal(foreign.tokens, undefined, 'no token from a file another user owns');
    assert.match(foreign.error!, /token file .* is owned by uid 65534, not by the agent's user .*chown/);
  }
});
