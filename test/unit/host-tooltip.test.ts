// The host row's hover: every fact a user checks before acting on a host, escaped Markdown.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { OpInfo } from '../../protocol';
import type { HostSnapshot } from '../../src/fleet/hostSnapshot';
import { hostTooltipMarkdown, mdText } from '../../src/views/hostTooltip';

const op = (over: Partial<OpInfo>): OpInfo => ({
  id: 'op-1', kind: 'switch', params: {}, state: 'succeeded', client: { name: 'vscode alice@laptop', auth: 'token' } as OpInfo['client'],
  startedAt: '2026-12-01T10:00:00.000Z', endedAt: '2026-12-01T10:01:00.000Z', lastSeq: 3, agentVersion: '0.1.0', ...over,
});

const online: HostSnapshot = {
  name: 'h1', platform: 'nixos', connection: 'online', runningOps: [], agentVersion: '0.1.0',
  entry: { name: 'h1', address: 'ws://127.0.0.1:7000', platform: 'nixos' }, discoveredIn: 'nixosConfigurations',
  status: { host: 'h1', platform: 'nixos', agentVersion: '0.1.0', nixVersion: '2.8.1', switchMethod: 'nixos-rebuild', currentGeneration: 3, startedAt: '2026-12-01T09:00:00.000Z' } as HostSnapshot['status'],
  generations: [
    { generation: 2, path: '/nix/store/a-system', createdAt: '2026-11-30T09:00:00.000Z', current: false, present: true, revision: '1111111aaaa', lastKnownWorking: true },
    { generation: 3, path: '/nix/store/b-system', createdAt: '2026-12-01T09:30:00.000Z', current: true, present: true, revision: 'abcdef0123456', lastKnownWorking: false, checks: { passed: false, at: '2026-12-01T09:40:00.000Z' } },
  ],
  lastOp: op({ state: 'failed', kind: 'test', error: 'check nginx failed; see Show Logs', result: undefined }),
};

test('an online host: platform, address and transport, agent and Nix, current generation with date and commit, last op and result', () => {
  const md = hostTooltipMarkdown(online, true);
  assert.match(md, /^\*\*h1\*\* — NixOS, online/);
  assert.match(md, /\*\*Address\*\*: `ws:\/\/127\.0\.0\.1:7000` \(WebSocket\)/);
  assert.match(md, /\*\*Agent\*\*: agent 0\\\.1\\\.0 · Nix 2\\\.8\\\.1 · switches with nixos\\-rebuild/);
  assert.match(md, /\*\*Generation\*\*: 3, built \d{4}\\-\d\d\\-\d\d \d\d:\d\d from commit `abcdef0` · tests failed/);
  assert.match(md, /\*\*Last op\*\*: test \*\*failed\*\* .* by vscode alice@laptop: check nginx failed; see Show Logs/);
  assert.match(md, /\*\*Flake\*\*: `nixosConfigurations\.h1`/);
  assert.doesNotMatch(md, /Read-only/);
});

test('a switch that moved generations says so; ssh hosts name their transport; untrusted says read-only', () => {
  const md = hostTooltipMarkdown({ ...online, entry: { name: 'h1', address: 'ssh://root@h1.lan', platform: 'nixos' }, lastOp: op({ result: { generationBefore: 2, generationAfter: 3 } as OpInfo['result'] }) }, false);
  assert.match(md, /\(ssh, the agent over stdio\)/);
  assert.match(md, /switch \*\*succeeded\*\* .*, generation 2 → 3/);
  assert.match(md, /\*Read-only: this workspace is not trusted\.\*/);
});

test('offline with last known state, a flake host without agent, and text that would be Markdown is escaped', () => {
  const off = hostTooltipMarkdown({ ...online, connection: 'offline', problem: 'connection refused [ECONNREFUSED]', lastSeen: '2026-12-01T10:05:00.000Z' }, true);
  assert.match(off, /— NixOS, offline/);
  assert.match(off, /\*\*Offline\*\*: connection refused \\\[ECONNREFUSED\\\] \(last seen .*below is its last known state\)/);
  const flakeOnly = hostTooltipMarkdown({ name: 'mac', platform: 'darwin', connection: 'unconfigured', runningOps: [], discoveredIn: 'darwinConfigurations' }, true);
  assert.match(flakeOnly, /— nix-darwin, no agent configured/);
  assert.match(flakeOnly, /none configured; the host is in the workspace flake \(darwinConfigurations\)\. Use \*Add Host\*/);
  assert.doesNotMatch(flakeOnly, /Last op|Generation/);
  assert.equal(mdText('a*b_[x](y) `z`'), 'a\\*b\\_\\[x\\]\\(y\\) \\`z\\`');
});

test('the drifts the row\'s icon stands for are in the hover, worst first, each with what fixes it', () => {
  const md = hostTooltipMarkdown(online, true, [
    { kind: 'op-failed', level: 'error', short: 'switch failed', detail: 'The last switch failed at 10:01.', fix: { command: 'nixfleet.switch', title: 'Switch', args: { host: 'h1' } } },
    { kind: 'checkout', level: 'warn', short: 'checkout behind', detail: 'The checkout is 2 behind origin.' },
  ]);
  const problem = md.indexOf('**Drift**: switch failed: The last switch failed at 10:01\\. (the row under the host runs *Switch*)');
  const drift = md.indexOf('**Drift**: checkout behind: The checkout is 2 behind origin\\.');
  assert.ok(problem > 0, md);
  assert.ok(drift > problem, 'worst first');
  assert.doesNotMatch(hostTooltipMarkdown(online, true), /\*\*Drift\*\*/);
});
