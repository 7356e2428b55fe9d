// The GitHub TEST server for the UI phase: test/e2e/github-server.ts (tsx) in its own process
// group, over the bed's bare origin. The extension reaches it through the setting
// `nixfleet.github.apiUrl`; the UI tests ask it what it holds (PRs, requests served) over its
// stdin/stdout. Stopped by stopGroup/stopAll like the agents, and it exits by itself when the
// harness's end of its stdin closes.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { stopGroup, trackGroup } from './procs.mjs';

export class GitHubServer {
  /**
   * @param {object} o
   * @param {string} o.root     the project (tsx and the fixture are resolved from it)
   * @param {string} o.gitDir   the bare repository that plays the GitHub repository
   * @param {string} o.owner
   * @param {string} o.repo
   * @param {Record<string, {login: string, id: number, name: string, email: string}>} o.users  token → user
   * @param {string} o.logFile  the server's stderr
   */
  constructor({ root, gitDir, owner, repo, users, logFile }) {
    Object.assign(this, { root, gitDir, owner, repo, users, logFile });
    this.proc = null;
    this.baseUrl = null;
    this.nextId = 1;
    this.pending = new Map();
  }

  async start(timeoutMs = 30_000) {
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const fd = openSync(this.logFile, 'a');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(this.root, 'test/e2e/github-server.ts'), JSON.stringify({ gitDir: this.gitDir, owner: this.owner, repo: this.repo, users: this.users })],
      { cwd: this.root, env, detached: true, stdio: ['pipe', 'pipe', fd] },
    );
    closeSync(fd);
    const proc = { name: 'github test server', child, pid: child.pid, logFile: this.logFile, exitedAt: null };
    proc.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        proc.exitedAt = Date.now();
        for (const p of this.pending.values()) p.reject(new Error(`the GitHub test server exited (code ${code}, signal ${signal}); see ${this.logFile}`));
        this.pending.clear();
        resolve({ code, signal });
      });
      child.on('error', (err) => {
        proc.exitedAt = Date.now();
        resolve({ code: null, signal: null, error: err });
      });
    });
    this.proc = trackGroup(proc);
    child.stdin.on('error', () => {}); // a write after it died is reported by the pending call
    const lines = createInterface({ input: child.stdout });
    let timer;
    const ready = new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`the GitHub test server did not print its URL within ${timeoutMs / 1000} s; see ${this.logFile}`)), timeoutMs);
      proc.exited.then(({ code, signal }) => reject(new Error(`the GitHub test server exited before listening (code ${code}, signal ${signal}); see ${this.logFile}`)));
      lines.on('line', (line) => {
        let msg;
        try {
          msg = JSON.parse(line);
        } catch {
          return;
        }
        if (msg.baseUrl) return resolve(msg.baseUrl);
        const p = this.pending.get(msg.id);
        if (!p) return;
        this.pending.delete(msg.id);
        if (msg.ok) p.resolve(msg.result);
        else p.reject(new Error(`GitHub test server: ${msg.error}`));
      });
    });
    try {
      this.baseUrl = await ready;
    } finally {
      clearTimeout(timer);
    }
    return this.baseUrl;
  }

  /** Ask the server (op: recordMergedPullRequest, pulls, requests); bounded by `timeoutMs`. */
  call(op, args, timeoutMs = 15_000) {
    if (!this.proc || this.proc.exitedAt) return Promise.reject(new Error('the GitHub test server is not running'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`the GitHub test server did not answer "${op}" within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.proc.child.stdin.write(JSON.stringify({ id, op, args }) + '\n');
    });
  }

  async stop() {
    if (!this.proc) return;
    this.proc.child.stdin.end();
    await stopGroup(this.proc, 2000);
    this.proc = null;
  }
}
