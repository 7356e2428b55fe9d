// Shared by the cli-*.test.ts files: run the real `node dist/nixfleet.js` as a child
// process (pipes, no terminal: as in CI) against real agents on loopback.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import assert from 'node:assert/strict';
import path from 'node:path';
import { opInfo, outputLine } from '../../protocol';
import { ROOT } from './agent-harness';
export { profileGeneration } from './fleet-harness';

export const NIXFLEET_JS = path.join(ROOT, 'dist/nixfleet.js');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface RunningCli {
  /** Send a signal to the CLI process. */
  kill(signal: NodeJS.Signals): void;
  /** Output so far. */
  stdout(): string;
  stderr(): string;
  done: Promise<CliResult>;
}

/** Start `nixfleet ARGS…` with stdin, stdout and stderr as pipes and a bounded run time. */
export function startCli(args: string[], env: Record<string, string> = {}, timeoutMs = 180_000, o: { pauseStdoutMs?: number } = {}): RunningCli {
  const child = spawn(process.execPath, [NIXFLEET_JS, ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end();
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  // A slow reader: the pipe fills and the CLI must still deliver everything before it exits.
  if (o.pauseStdoutMs) {
    child.stdout.pause();
    setTimeout(() => child.stdout.resume(), o.pauseStdoutMs);
  }
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<CliResult>((resolve) => {
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
  return { kill: (sig) => child.kill(sig), stdout: () => stdout, stderr: () => stderr, done };
}

export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return startCli(args, env).done;
}

/** A temp dir with a hosts file and a 0600 tokens file for the given agents. */
export function writeFleetFiles(hosts: { name: string; url: string; platform?: string }[], token: string): { dir: string; hostsFile: string; tokensFile: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-cli-'));
  const hostsFile = path.join(dir, 'hosts.json');
  writeFileSync(hostsFile, JSON.stringify(hosts.map((h) => ({ name: h.name, address: h.url, platform: h.platform ?? 'nixos' })), null, 2));
  const tokensFile = path.join(dir, 'tokens');
  writeFileSync(tokensFile, `# host token\n${hosts.map((h) => `${h.name} ${token}`).join('\n')}\n`, { mode: 0o600 });
  chmodSync(tokensFile, 0o600);
  return { dir, hostsFile, tokensFile, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The generation a profile link points at, read on disk. */

/**
 * Start `nixfleet ARGS…` on a pseudo-terminal (util-linux `script`), for the paths that
 * differ on a terminal: the [y/N] question and the table header. The command string is
 * constant; the arguments travel in an environment variable, split on spaces (so none may
 * hold whitespace or glob characters: checked). `answer(text)` types a line.
 */
export function startCliOnTerminal(args: string[], env: Record<string, string> = {}): RunningCli & { answer(text: string): void } {
  for (const a of args) if (/[\s*?[\]'"\\$`]/.test(a)) throw new Error(`startCliOnTerminal: argument ${JSON.stringify(a)} cannot be passed through the terminal wrapper`);
  const child = spawn('script', ['-q', '-e', '-c', 'exec "$NIXFLEET_NODE" "$NIXFLEET_JS" $NIXFLEET_ARGS', '/dev/null'], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', TERM: 'dumb', ...env, NIXFLEET_NODE: process.execPath, NIXFLEET_JS: NIXFLEET_JS, NIXFLEET_ARGS: args.join(' ') },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
  const done = new Promise<CliResult>((resolve) => {
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
  return { kill: (sig) => child.kill(sig), stdout: () => stdout, stderr: () => stderr, done, answer: (text) => child.stdin.write(text + '\n') };
}

/**
 * What `log HOST OP --follow` (text) and `--follow --json` printed for a succeeded op whose
 * journal holds `tick-1`..`tick-n`: each tick once in the text, seq 1..lastSeq once in the JSON.
 */
export function assertFollowedOnce(text: CliResult, json: CliResult, n: number): void {
  assert.equal(text.status, 0, text.stderr);
  assert.equal(json.status, 0, json.stderr);
  for (let i = 1; i <= n; i++) {
    assert.equal(text.stdout.split('\n').filter((l) => l === `tick-${i}`).length, 1, `tick-${i} printed once by log --follow`);
  }
  const parsed = JSON.parse(json.stdout) as { op: unknown; lines: unknown[] };
  const op = opInfo.parse(parsed.op);
  const lines = parsed.lines.map((l) => outputLine.parse(l));
  assert.equal(op.state, 'succeeded');
  assert.deepEqual(lines.map((l) => l.seq), Array.from({ length: op.lastSeq }, (_, i) => i + 1), 'seq 1..lastSeq, each once');
}
