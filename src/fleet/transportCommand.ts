// Command transport: spawn an argv (e.g. ["ssh", "root@h1", "nixfleet-agent", "stdio",
// "--config", "/etc/nixfleet/agent.json"]) and speak NDJSON over its stdin/stdout.
import { spawn, type ChildProcess } from 'node:child_process';
import { Transport } from './transport';

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

  constructor(opts: CommandTransportOptions) {
    super();
    if (!opts.argv.length) throw new Error('the agent command is empty: give an argv such as ["ssh", "root@h1", "nixfleet-agent", "stdio"]');
    this.description = opts.argv.join(' ');
    this.child = spawn(opts.argv[0]!, opts.argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd });
    this.child.on('spawn', () => this.emit('open'));
    this.child.on('error', (err) => this.finish(`cannot run ${opts.argv[0]}: ${err.message}`, (err as NodeJS.ErrnoException).code === 'ENOENT'));
    this.child.on('exit', (code, signal) => {
      const tail = this.stderrTail.length ? `: ${this.stderrTail[this.stderrTail.length - 1]}` : '';
      this.finish(`${opts.argv[0]} exited (${signal ?? `code ${code}`})${tail}`, false);
    });
    let partial = '';
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop()!;
      for (const p of parts) if (p.trim()) this.emit('message', p);
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
    this.emit('close', reason, fatal);
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
