// CLI output through real pipes: complete whatever its size, however slowly the reader
// reads, with the exit status of the command (not of a cut-off write). The ops are
// written as a worker leaves them (op.json + journal), so no Nix is needed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { opInfo, type OpInfo } from '../../protocol';
import { JournalWriter } from '../../agent/journal/writer';
import { createOpDir, writeOpInfo } from '../../agent/journal/opStore';
import { journalFile } from '../../agent/journal/paths';
import { AGENT_JS } from './agent-harness';

let dir: string;
let config: string;
const LINES = 20_000; // ~2 MiB of JSON: 30 times a pipe's 64 KiB buffer

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-cli-out-'));
  const stateDir = path.join(dir, 'state');
  config = path.join(dir, 'agent.json');
  writeFileSync(config, JSON.stringify({ host: 'h1', flake: path.join(dir, 'nixcfg'), platform: 'nixos', stateDir }));
  for (let n = 0; n < 150; n++) {
    const id = `big-${n}`;
    createOpDir(stateDir, id);
    const w = JournalWriter.open(journalFile(stateDir, id));
    for (let i = 1; i <= (n === 0 ? LINES : 3); i++) w.append(i % 2 ? 'stdout' : 'stderr', `building /nix/store/${String(i).padStart(32, 'x')}-pkg-${i}.drv`);
    w.close();
    const info: OpInfo = {
      id,
      kind: 'switch',
      params: {},
      state: 'succeeded',
      client: { name: 'test', auth: 'cli:test' },
      startedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
      endedAt: new Date(Date.UTC(2026, 0, 1, 0, 1, n)).toISOString(),
      lastSeq: w.lastSeq,
      exit: 0,
      agentVersion: 'test',
      result: { agentVersionAfter: 'test', message: 'a message long enough to make the op list large '.repeat(8) },
    };
    writeOpInfo(stateDir, opInfo.parse(info));
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Run the CLI with stdout on a pipe, pausing `pauseMs` after each chunk read (a slow reader); destroy it after `stopAfter` bytes. */
function runPiped(args: string[], pauseMs: number, stopAfter = Infinity): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  const proc = spawn(process.execPath, [AGENT_JS, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const got: Buffer[] = [];
  let total = 0;
  proc.stdout.on('data', (b: Buffer) => {
    got.push(b);
    total += b.length;
    if (total >= stopAfter) return void proc.stdout.destroy();
    proc.stdout.pause();
    setTimeout(() => proc.stdout.resume(), pauseMs);
  });
  return new Promise((resolve) => proc.once('close', (code) => resolve({ code, stdout: Buffer.concat(got), stderr })));
}

test('log --json to a slow pipe: the whole document arrives, exit status 0', async () => {
  const r = await runPiped(['log', 'big-0', '--config', config, '--json'], 20);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.length > 64 * 1024 * 10, `only ${r.stdout.length} bytes`);
  const doc = JSON.parse(r.stdout.toString('utf8')) as { op: OpInfo; lines: { seq: number }[] };
  assert.equal(doc.lines.length, LINES);
  assert.equal(doc.lines.at(-1)!.seq, LINES);
});

test('log (text) and ops --json to a slow pipe are complete too', async () => {
  const text = await runPiped(['log', 'big-0', '--config', config], 10);
  assert.equal(text.code, 0, text.stderr);
  const lines = text.stdout.toString('utf8').trimEnd().split('\n');
  assert.equal(lines.length, LINES / 2, 'every stdout line (the stderr lines go to stderr)');
  assert.match(lines.at(-1)!, new RegExp(`-pkg-${LINES - 1}\\.drv$`));
  const ops = await runPiped(['ops', '--config', config, '--json', '--limit', '1000'], 20);
  assert.equal(ops.code, 0, ops.stderr);
  assert.equal((JSON.parse(ops.stdout.toString('utf8')) as unknown[]).length, 150);
});

test('a reader that goes away early: the CLI stops without a stack trace, status 141 (as for SIGPIPE)', async () => {
  const r = await runPiped(['log', 'big-0', '--config', config, '--json'], 0, 100 * 1024);
  assert.equal(r.code, 141);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});
