// The hard bound of a session's memory: events a client never reads (op.state for every
// op started on the host, host.status after each ends) are not requests, so pausing its
// input does not stop them. Once it holds more than the limit the agent drops it and
// releases what it held. Over the stdio transport with a real pipe whose reader (a
// `sleep` process) never reads, events broadcast the way the op manager announces ops.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import type { OpInfo } from '../../protocol';
import { parseConfig } from '../../agent/config';
import { nixInfoFor } from '../../agent/nix/version';
import { AgentCore } from '../../agent/server/core';
import { serveStdio } from '../../agent/server/stdio';

test('a client that never reads its events is dropped past the hard limit, and the session is released', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-session-'));
  const reader = spawn('sleep', ['600'], { stdio: ['pipe', 'ignore', 'ignore'] });
  const core = new AgentCore(parseConfig({ host: 'h1', flake: '/srv/nixcfg', platform: 'nixos', stateDir: dir }), nixInfoFor('2.8.0'));
  try {
    const input = new PassThrough();
    const ended = serveStdio(core, input, reader.stdin!);
    input.write(JSON.stringify({ type: 'hello', protocol: 1, client: { name: 'never-reads', version: '1' } }) + '\n');
    await new Promise((r) => setImmediate(r));
    assert.equal(core.sessions.size, 1);
    // One op.state event of ~256 KiB (an op whose params carry a long commit message).
    const info: OpInfo = {
      id: 'big-op',
      kind: 'rebuild-smart',
      params: { message: 'x'.repeat(256 * 1024) },
      state: 'running',
      client: { name: 'other controller', auth: 'cli:root' },
      startedAt: new Date().toISOString(),
      lastSeq: 0,
      agentVersion: '0.0.0',
    };
    let sent = 0;
    while (core.sessions.size > 0 && sent < 1000) {
      core.manager.emit('state', info);
      sent++;
    }
    const held = (sent * 256) / 1024;
    assert.equal(core.sessions.size, 0, `the session was kept after ${held} MiB of unread events`);
    assert.ok(held >= 32 && held <= 33, `dropped after ${held} MiB of unread events; the limit is 32 MiB`);
    await ended; // its input was closed: serveStdio returns
  } finally {
    reader.kill('SIGKILL');
    core.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
