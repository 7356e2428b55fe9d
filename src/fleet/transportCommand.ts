// Command transport: spawn an argv (e.g. ["ssh", "root@h1", "nixfleet-agent", "stdio",
// "--config", "/etc/nixfleet/agent.json"]) and speak NDJSON over its stdin/stdout.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { formatArgv } from '../../protocol';
import { Transport } from './transport';

/** Why the command ended, for the user, and whether retrying can help. */
export interface ExitVerdict {
  reason: string;
  fatal: boolean;
}

/** `user@host:port` of an ssh argv as hostConfig.ts builds it (target after "--"). */
function sshTarget(argv: readonly string[]): string | undefined {
  if (path.basename(argv[0] ?? '') !== 'ssh') return undefined;
  const dash = argv.indexOf('--');
  const target = dash >= 0 ? argv[dash + 1] : undefined;
  if (!target) return undefined;
  const p = argv.indexOf('-p');
  const port = p >= 0 && p < dash ? argv[p + 1] : undefined;
  return port ? `${target}:${port}` : target;
}

/**
 * Read ssh's stderr when the command ended before the agent spoke: the failures that
 * retrying cannot fix (unknown or changed host key, refused key, no agent on the host)
 * are fatal with what to do; a network failure is retried. Exit 255 is ssh's own error.
 */
export function judgeExit(argv: readonly string[], code: number | null, signal: string | null, stderr: readonly string[], spoke: boolean): ExitVerdict {
  const last = stderr.length ? `: ${stderr[stderr.length - 1]}` : '';
  const plain: ExitVerdict = { reason: `${argv[0]} exited (${signal ?? `code ${code}`})${last}`, fatal: false };
  const target = sshTarget(argv);
  if (!target || spoke) return plain;
  const text = stderr.join('\n');
  const userHost = target.replace(/:\d+$/, '');
  if (code === 255) {
    if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed/i.test(text)) {
      return {
        reason: `ssh to ${target}: the host key changed since it was recorded in known_hosts (a reinstalled host, or someone in between); verify the new key with the host's owner, remove the old one (ssh-keygen -R HOST), then Refresh`,
        fatal: true,
      };
    }
    if (/Host key verification failed|No \S+ host key is known/i.test(text)) {
      return {
        reason: `ssh to ${target}: the host key is not in known_hosts and ssh runs without prompts (BatchMode); connect once from a terminal (ssh ${target.includes(':') ? `-p ${target.slice(target.lastIndexOf(':') + 1)} ` : ''}${userHost}), check the fingerprint and accept it, then Refresh`,
        fatal: true,
      };
    }
    if (/Permission denied \(/i.test(text)) {
      return {
        reason: `ssh to ${target}: the host refused our key (${(text.match(/Permission denied \([^)]*\)/) ?? ['Permission denied'])[0]}); add your public key to the user's ~/.ssh/authorized_keys on the host (ssh-copy-id), or set identityFile/sshConfig for this host, then Refresh`,
        fatal: true,
      };
    }
    if (/Could not resolve hostname/i.test(text)) {
      return { reason: `ssh to ${target}: the host name does not resolve${last}; check the address (retrying)`, fatal: false };
    }
    if (/Connection refused|Connection timed out|No route to host|Network is unreachable|Operation timed out/i.test(text)) {
      return { reason: `ssh to ${target}: cannot connect${last}; is the host up and sshd running? (retrying)`, fatal: false };
    }
  }
  if (code === 127 || /nixfleet-agent: (command )?not found/i.test(text)) {
    return {
      reason: `ssh to ${target}: nixfleet-agent is not on the PATH of non-interactive ssh sessions on the host${last}; install the agent there (see the README), then Refresh`,
      fatal: true,
    };
  }
  return plain;
}

export interface CommandTransportOptions {
  argv: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export class CommandTransport extends Transport {
  readonly description: string;
  private readonly child: ChildProcess;
  private closed = false;
  private stderrTail: string[] = [];
  /** The command wrote to stdout: ssh got through and the agent runs. */
  private spoke = false;

  constructor(opts: CommandTransportOptions) {
    super();
    if (!opts.argv.length) throw new Error('the agent command is empty: give an argv such as ["ssh", "root@h1", "nixfleet-agent", "stdio"]');
    this.description = formatArgv(opts.argv);
    this.child = spawn(opts.argv[0]!, opts.argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd });
    this.child.on('spawn', () => this.onOpen.fire());
    this.child.on('error', (err) => this.finish(`cannot run ${opts.argv[0]}: ${err.message}`, (err as NodeJS.ErrnoException).code === 'ENOENT'));
    // Judge ssh's failure once its stderr is read to the end, but not later than 500 ms
    // after the exit: a process it left behind (ssh ControlPersist) may hold stderr open.
    let stderrEnded = false;
    let judge: (() => void) | undefined;
    this.child.stderr!.once('end', () => {
      stderrEnded = true;
      judge?.();
    });
    this.child.on('exit', (code, signal) => {
      judge = () => {
        judge = undefined;
        const verdict = judgeExit(opts.argv, code, signal, this.stderrTail, this.spoke);
        this.finish(verdict.reason, verdict.fatal);
      };
      if (stderrEnded) judge();
      else setTimeout(() => judge?.(), 500).unref();
    });
    let partial = '';
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.spoke = true;
      const parts = (partial + chunk).split('\n');
      partial = parts.pop()!;
      for (const p of parts) if (p.trim()) this.onMessage.fire(p);
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      for (const l of chunk.split('\n')) if (l.trim()) this.stderrTail.push(l.trim());
      if (this.stderrTail.length > 10) this.stderrTail = this.stderrTail.slice(-10);
    });
    this.child.stdin!.on('error', () => {});
  }

  private finish(reason: string, fatal: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose.fire({ reason, fatal });
  }

  send(text: string): void {
    if (!this.closed) this.child.stdin!.write(text + '\n');
  }

  close(): void {
    if (this.closed) return;
    this.child.stdin!.end();
    const t = setTimeout(() => this.child.kill('SIGTERM'), 2000);
    t.unref();
    this.finish('closed by the client', true);
  }
}
