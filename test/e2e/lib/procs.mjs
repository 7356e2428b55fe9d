// Processes the e2e harness starts (agents, code-server): each in its own process group so
// teardown can kill it with everything it spawned, logs into files, and a registry so that
// every exit path (success, failure, timeout, signal) tears them all down.
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import net from 'node:net';

const live = new Set();

/**
 * Start `argv` detached (own session and process group), stdout+stderr into `logFile`.
 * Returns { name, child, pid, exited: Promise<{code, signal}> }.
 */
export function startGroup(name, argv, { cwd, env, logFile }) {
  const fd = openSync(logFile, 'a');
  const child = spawn(argv[0], argv.slice(1), { cwd, env, detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const proc = { name, child, pid: child.pid, logFile, exitedAt: null };
  proc.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      proc.exitedAt = Date.now();
      resolve({ code, signal });
    });
    child.on('error', (err) => {
      proc.exitedAt = Date.now();
      resolve({ code: null, signal: null, error: err });
    });
  });
  live.add(proc);
  return proc;
}

/**
 * Register a process group started elsewhere (its own `spawn(..., { detached: true })`), so
 * stopAll() and killAllNow() end it too. `proc` as startGroup returns it.
 */
export function trackGroup(proc) {
  live.add(proc);
  return proc;
}

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM the group, SIGKILL it after `graceMs`; resolves when the leader has exited. */
export async function stopGroup(proc, graceMs = 3000) {
  live.delete(proc);
  if (proc.pid === undefined) return;
  killGroup(proc.pid, 'SIGTERM');
  await Promise.race([proc.exited, new Promise((r) => setTimeout(r, graceMs))]);
  // Children of the group may outlive the leader: always finish with SIGKILL.
  killGroup(proc.pid, 'SIGKILL');
  await Promise.race([proc.exited, new Promise((r) => setTimeout(r, 1000))]);
}

export async function stopAll() {
  await Promise.all([...live].map((p) => stopGroup(p)));
}

/** Synchronous last resort for process.on('exit'): SIGKILL every group still registered. */
export function killAllNow() {
  for (const p of live) if (p.pid !== undefined) killGroup(p.pid, 'SIGKILL');
  live.clear();
}

/** A loopback TCP port that was free a moment ago (bind to 0, read, close). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function canConnect(port, timeoutMs = 500) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.on('connect', () => done(true));
    sock.on('error', () => done(false));
  });
}

/**
 * Poll `check` every `everyMs` until it returns a truthy value or `timeoutMs` passes. An error
 * thrown by `check` is retried, unless it has `fatal: true` (e.g. the process being waited for
 * has exited).
 */
export async function waitFor(what, check, { timeoutMs, everyMs = 100 }) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      if (err.fatal) throw err;
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
