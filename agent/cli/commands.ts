// The CLI: `nixfleet-agent <command> --config FILE [--json]`. Exit code 0 only on
// success; errors go to stderr as one sentence.
import { OP_ID_RE, printable } from '../../protocol';
import { AGENT_VERSION } from '../version';
import { probeNixVersion } from '../server/nixVersion';
import { listGenerations } from '../nix/generations';
import { OpManager } from '../runner/manager';
import { readAllLines } from '../journal/reader';
import { journalFile } from '../journal/paths';
import { AgentCore } from '../server/core';
import { startWsServer } from '../server/wsServer';
import { serveStdio } from '../server/stdio';
import { buildHostStatus } from '../server/status';
import { numberFlag, parseCommandArgs, UsageError, type Parsed } from './args';
import { opCommands, type FlagSpec } from './opCommands';
import { followOp, newOpId, runOpFromCli, terminalPrinter } from './runOp';
import { formatGenerations, formatOps, formatStatus } from './format';
import { checkAtStart, checkStateDir } from '../state/ownership';

interface Command {
  summary: string;
  usage: string;
  flags: Record<string, FlagSpec>;
  positionals?: number;
  /** Started by the agent itself (a worker), never by a user: not in the help, needs no --config. */
  internal?: boolean;
  run(p: Parsed): Promise<number>;
}

/** The absolute state directory an internal command (a worker) was started with, checked as at the agent's start. */
function workerStateDir(name: string, p: Parsed): string {
  const dir = p.overrides.stateDir;
  if (typeof dir !== 'string' || !dir.startsWith('/')) throw new UsageError(`${name}: --state-dir DIR (absolute) is required`);
  checkStateDir(dir);
  return dir;
}

const print = (text: string) => process.stdout.write(text + '\n');
const printJson = (v: unknown) => process.stdout.write(JSON.stringify(v, null, 2) + '\n');

const commands: Record<string, Command> = {
  serve: {
    summary: 'serve the protocol over WebSocket on config "listen" (TLS with tlsCert/tlsKey, bearer tokens from tokenFile) and/or through the NATS "broker"',
    usage: 'serve --config FILE',
    flags: {},
    async run(p) {
      const config = p.config();
      checkAtStart(config, p.configFile);
      if (!config.listen && !config.broker) throw new UsageError('serve needs "listen" (ADDRESS:PORT) or "broker" (nats:// URL) in the config, or --listen / --broker');
      const log = (text: string) => process.stderr.write(`nixfleet-agent: ${text}\n`);
      // A standby worker for the serving agent only (as standbyWorker says): a stdio agent lives for one SSH connection.
      const core = new AgentCore(config, await probeNixVersion(), { standby: config.standbyWorker, log });
      core.start();
      const server = config.listen ? await startWsServer(core) : undefined;
      // The NATS client and the broker's code are loaded only where a broker is configured:
      // an agent without one rests 7-11 MiB smaller (bench/idle-rss: 57-62 MiB, was 68.8).
      const brokerCode = config.broker ? await import('../broker/serve') : undefined;
      const broker = brokerCode?.startBroker(core, log);
      const ready: Record<string, unknown> = { pid: process.pid, version: AGENT_VERSION };
      if (server) {
        const scheme = config.tlsCert ? 'wss' : 'ws';
        const host = server.address.host.includes(':') ? `[${server.address.host}]` : server.address.host;
        process.stderr.write(`nixfleet-agent ${AGENT_VERSION}: host ${config.host} listening on ${scheme}://${host}:${server.address.port}` +
          `${config.tokenFile ? '' : ' (no tokenFile: read-only, every op refused)'}\n`);
        const loopback = /^(127\.|::1$|localhost$)/.test(server.address.host);
        if (!config.tlsCert && !loopback) {
          process.stderr.write(`nixfleet-agent: warning: listening on ${host} without TLS: bearer tokens and op output cross the network in clear; set tlsCert and tlsKey, or use the stdio transport over SSH\n`);
        }
        ready.listening = `${host}:${server.address.port}`;
      }
      if (brokerCode) ready.broker = brokerCode.brokerServers(config);
      if (p.json) print(JSON.stringify(ready));
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
      // Workers are in their own sessions: they keep running and a restarted agent re-attaches.
      await Promise.all([server?.close(), broker?.close()]);
      core.close();
      return 0;
    },
  },
  stdio: {
    summary: 'speak the protocol as newline-delimited JSON on stdin/stdout (for SSH)',
    usage: 'stdio --config FILE',
    flags: {},
    async run(p) {
      const config = p.config();
      checkAtStart(config, p.configFile);
      const core = new AgentCore(config, await probeNixVersion());
      core.start();
      await serveStdio(core);
      core.close();
      return 0;
    },
  },
  status: {
    summary: "show the host's generation, checkout, last checks and whether an op is running",
    usage: 'status --config FILE [--json]',
    flags: {},
    async run(p) {
      const config = p.config();
      const status = await buildHostStatus(config, (await probeNixVersion()).version, new Date().toISOString());
      if (p.json) printJson(status);
      else print(formatStatus(status));
      return 0;
    },
  },
  generations: {
    summary: "list the profile's generations (oldest first)",
    usage: 'generations --config FILE [--json]',
    flags: {},
    async run(p) {
      const gens = await listGenerations(p.config());
      if (p.json) printJson(gens);
      else print(formatGenerations(gens));
      return 0;
    },
  },
  ops: {
    summary: 'list recorded ops, newest first',
    usage: 'ops --config FILE [--limit N] [--json]',
    flags: { limit: { type: 'string', value: 'N', help: 'show at most N ops (default 50)' } },
    async run(p) {
      const limit = p.flags.limit === undefined ? 50 : numberFlag('ops', 'limit', p.flags.limit, 1);
      const manager = new OpManager(p.config());
      const ops = manager.list(limit);
      manager.close();
      if (p.json) printJson(ops);
      else print(formatOps(ops));
      return 0;
    },
  },
  log: {
    summary: "print an op's journal (--follow: until it ends); exit status is the op's outcome",
    usage: 'log OP --config FILE [--follow] [--from-seq N] [--json]',
    flags: {
      follow: { type: 'boolean', help: 'keep printing until the op ends' },
      'from-seq': { type: 'string', value: 'N', help: 'start after journal line N' },
    },
    positionals: 1,
    async run(p) {
      const opId = p.positionals[0];
      if (!opId) throw new UsageError('log: give the op id, e.g. "nixfleet-agent log cli-switch-xyz --config FILE" (see "nixfleet-agent ops")');
      if (!OP_ID_RE.test(opId)) throw new UsageError(`log: "${printable(opId)}" is not an op id`);
      const fromSeq = p.flags['from-seq'] === undefined ? 0 : numberFlag('log', 'from-seq', p.flags['from-seq'], 0);
      const config = p.config();
      const manager = new OpManager(config);
      try {
        const info = manager.get(opId);
        if (!info) throw new Error(`no op ${opId} on host ${config.host}; list ops with "nixfleet-agent ops --config FILE"`);
        if (p.json) {
          const final = p.flags.follow && !manager.isFinal(info) ? await followOp(manager, opId, fromSeq, { line: () => {} }) : info;
          printJson({ op: final, lines: await readAllLines(journalFile(config.stateDir, opId), fromSeq) });
          return final.state === 'succeeded' || final.state === 'running' ? 0 : 1;
        }
        if (p.flags.follow) {
          const final = await followOp(manager, opId, fromSeq, terminalPrinter(false));
          return final.state === 'succeeded' ? 0 : 1;
        }
        for (const l of await readAllLines(journalFile(config.stateDir, opId), fromSeq)) terminalPrinter(false).line(l);
        return info.state === 'succeeded' || info.state === 'running' ? 0 : 1;
      } finally {
        manager.close();
      }
    },
  },
  'broker-config': {
    summary: 'write the nats-server configuration and per-host credentials for running the fleet on a broker (docs/broker.md)',
    usage: 'broker-config --hosts a,b,... --out DIR [--operators NAME,...] [--port N] [--store-dir DIR] [--json]',
    flags: {
      hosts: { type: 'string', value: 'a,b,...', help: 'the hosts (flake attribute names) that get credentials' },
      operators: { type: 'string', value: 'NAME,...', help: 'controllers that get operator credentials (default: operator)' },
      out: { type: 'string', value: 'DIR', help: 'where nats-server.conf, accounts.json, hosts/*.nk and operators/*.nk go' },
      port: { type: 'string', value: 'N', help: 'client port of the server (default 4222)' },
      'store-dir': { type: 'string', value: 'DIR', help: 'JetStream storage directory (default /var/lib/nats/jetstream)' },
    },
    async run(p) {
      const list = (v: unknown) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : []);
      if (typeof p.flags.out !== 'string') throw new UsageError('broker-config: --out DIR is required (where the server config and the credentials are written)');
      const port = p.flags.port === undefined ? 4222 : Number(p.flags.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`broker-config: --port takes a port number (1-65535), not "${printable(String(p.flags.port))}"`);
      const storeDir = typeof p.flags['store-dir'] === 'string' ? p.flags['store-dir'] : '/var/lib/nats/jetstream';
      if (!storeDir.startsWith('/')) throw new UsageError('broker-config: --store-dir takes an absolute path');
      const operators = p.flags.operators === undefined ? ['operator'] : list(p.flags.operators);
      let result;
      try {
        result = (await import('../broker/serverConfig')).writeBrokerConfig({ hosts: list(p.flags.hosts), operators, out: p.flags.out, port, storeDir });
      } catch (err) {
        throw new UsageError(`broker-config: ${(err as Error).message}`);
      }
      if (p.json) printJson(result);
      else {
        print(`wrote ${result.serverConfig} and ${result.accountsJson}`);
        for (const [h, r] of Object.entries(result.hosts)) print(`host ${h}: ${r.credentials}${r.created ? ' (new)' : ' (kept)'}`);
        for (const [o, r] of Object.entries(result.operators)) print(`operator ${o}: ${r.credentials}${r.created ? ' (new)' : ' (kept)'}`);
        print('Copy each host\'s .nk file to that host (mode 0600, owned by the agent\'s user) and set brokerCredentials to its path.');
      }
      return 0;
    },
  },
  'run-op': {
    summary: '(internal) the worker process that runs one accepted op',
    usage: 'run-op --state-dir DIR --op ID',
    flags: { op: { type: 'string', value: 'ID', help: 'the op to run' } },
    internal: true,
    async run(p) {
      const opId = p.flags.op;
      if (typeof opId !== 'string' || !OP_ID_RE.test(opId)) throw new UsageError('run-op: --op ID is required');
      const dir = workerStateDir('run-op', p);
      // The worker alone needs the op code and execa: load it only here.
      const { runWorker } = await import('../runner/worker');
      return runWorker(dir, opId);
    },
  },
  standby: {
    summary: "(internal) a serving agent's standby worker, ready to run its next op",
    usage: 'standby --state-dir DIR --standby ID',
    flags: { standby: { type: 'string', value: 'ID', help: 'the standby directory to wait in' } },
    internal: true,
    async run(p) {
      const id = p.flags.standby;
      const { STANDBY_ID_RE } = await import('../runner/standbyHandoff');
      if (typeof id !== 'string' || !STANDBY_ID_RE.test(id)) throw new UsageError('standby: --standby ID (12 hexadecimal digits) is required');
      const dir = workerStateDir('standby', p);
      const { runStandby } = await import('../runner/standbyProcess');
      return runStandby(dir, id);
    },
  },
};

for (const [name, oc] of Object.entries(opCommands)) {
  commands[name] = {
    summary: oc.summary,
    usage: `${name} --config FILE${Object.entries(oc.flags)
      .map(([f, s]) => {
        const flag = `--${f}${s.type === 'string' ? ' ' + (s.value ?? 'VALUE') : ''}`;
        return s.required ? ` ${flag}` : ` [${flag}]`;
      })
      .join('')} [--op-id ID] [--json]`,
    flags: { ...oc.flags, 'op-id': { type: 'string', value: 'ID', help: 'op id to use (a retry with the same id never runs twice)' } },
    async run(p) {
      let params: Record<string, unknown>;
      try {
        params = oc.toParams(p.flags);
      } catch (err) {
        throw new UsageError(`${name}: ${(err as Error).message}`);
      }
      const opId = typeof p.flags['op-id'] === 'string' ? p.flags['op-id'] : newOpId(oc.kind);
      if (!OP_ID_RE.test(opId)) throw new UsageError(`${name}: "${printable(opId)}" is not a valid op id (letters, digits, "_" and "-")`);
      const config = p.config();
      checkAtStart(config, p.configFile);
      if (oc.confirm) {
        let confirmed: Record<string, unknown> | number;
        try {
          confirmed = await oc.confirm(config, params, p.flags);
        } catch (err) {
          throw new UsageError(`${name}: ${(err as Error).message}`);
        }
        if (typeof confirmed === 'number') return confirmed;
        params = confirmed;
      }
      const final = await runOpFromCli(config, oc.kind, params, opId, p.json);
      if (p.json) printJson(final);
      if (final.state !== 'succeeded' && oc.onFailure && !p.json) {
        const next = await oc.onFailure(final, (more) => runOpFromCli(config, oc.kind, more, newOpId(oc.kind), false));
        if (next) process.stderr.write(`nixfleet-agent: follow-up ${next.kind} ${next.state}${next.error ? `: ${next.error}` : ''}\n`);
      }
      if (final.state !== 'succeeded') {
        process.stderr.write(`nixfleet-agent: ${final.error ?? `${name} ${final.state}`}\n`);
        return 1;
      }
      return 0;
    },
  };
}

function helpFor(name: string, c: Command): string {
  const flags = Object.entries(c.flags).map(([f, s]) => `  --${f}${s.type === 'string' ? ' ' + (s.value ?? 'VALUE') : ''}`.padEnd(26) + s.help);
  return [
    `nixfleet-agent ${c.usage}`,
    '',
    c.summary,
    '',
    'Options:',
    '  --config FILE'.padEnd(26) + 'agent config (JSON); or $NIXFLEET_AGENT_CONFIG',
    '  --json'.padEnd(26) + 'machine-readable output on stdout',
    ...flags,
    '  --<config-key> VALUE'.padEnd(26) + 'override any config key (e.g. --state-dir /tmp/s)',
  ].join('\n');
}

function mainHelp(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length)) + 2;
  return [
    `nixfleet-agent ${AGENT_VERSION}: the NixFleet host agent`,
    '',
    'Usage: nixfleet-agent <command> --config FILE [--json] [options]',
    '',
    'Commands:',
    ...Object.entries(commands)
      .filter(([, c]) => !c.internal)
      .map(([n, c]) => `  ${n.padEnd(width)}${c.summary}`),
    '',
    'Run "nixfleet-agent <command> --help" for its options.',
  ].join('\n');
}

export async function runCli(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    print(mainHelp());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === 'version') {
    print(AGENT_VERSION);
    return 0;
  }
  const command = commands[name];
  if (!command) throw new UsageError(`unknown command "${printable(name)}"; run "nixfleet-agent --help" for the list`);
  const parsed = parseCommandArgs(name, args, command.flags, command.positionals ?? 0);
  if (parsed.help) {
    print(helpFor(name, command));
    return 0;
  }
  if (!command.internal && name !== 'broker-config' && parsed.configFile === undefined && !args.some((a) => a.startsWith('--host') || a.startsWith('--state-dir'))) {
    throw new UsageError(`${name}: --config FILE is required (the agent's JSON config)`);
  }
  return command.run(parsed);
}

