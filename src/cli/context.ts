// What a command gets: its validated arguments, the output, the hosts (read on first use),
// their connections, the confirmation rule and Ctrl-C as an AbortSignal.
import path from 'node:path';
import { OP_ID_RE, printable, type OpKind } from '../../protocol';
import { newOpId } from '../fleet/opIds';
import { stringFlag, UsageError, type FlagValues } from './args';
import { canAsk, choose, confirm, requireConfirmable, type PromptIo } from './confirm';
import { Connections } from './hosts/connections';
import { BrokerHostSource, parseBrokerUrls, readCredentialsFile } from './hosts/broker';
import { DirectHostSource } from './hosts/direct';
import { readHostsFile } from './hosts/hostsFile';
import type { HostSource } from './hosts/source';
import { readTokensFile, TokenStore } from './hosts/tokens';
import type { Output } from './output';

export interface CliEnv {
  out: Output;
  env: NodeJS.ProcessEnv;
  io: PromptIo;
  signal: AbortSignal;
  /** The command finishes on Ctrl-C (see Command.finishesOnInterrupt) instead of exiting at once. */
  finishOnInterrupt(): void;
}

export class CliContext {
  private hostSource: HostSource | undefined;
  private conns: Connections | undefined;

  constructor(
    readonly command: string,
    readonly flags: FlagValues,
    readonly positionals: string[],
    private readonly e: CliEnv,
  ) {}

  get out(): Output {
    return this.e.out;
  }
  get json(): boolean {
    return this.flags.json === true;
  }
  get yes(): boolean {
    return this.flags.yes === true;
  }
  get signal(): AbortSignal {
    return this.e.signal;
  }

  /**
   * With --broker (or $NIXFLEET_BROKER): connect to it and load its status bucket, before
   * the command runs. --broker and --hosts-file are two ways to find the hosts: given
   * together (as flags, or both as variables) they are refused, not merged; a flag wins
   * over the other's variable.
   */
  async prepare(): Promise<void> {
    const login = this.brokerLogin();
    if (login) this.hostSource = await BrokerHostSource.connect(login.urls, login.credentials);
  }

  /** The broker's addresses and the operator's credentials (text), when the command is to use a broker. */
  brokerLogin(): { urls: string[]; credentials: string } | undefined {
    const flag = (name: string) => stringFlag(this.flags, name);
    const env = (name: string) => this.e.env[name] || undefined;
    if (flag('broker') !== undefined && flag('hosts-file') !== undefined) {
      throw new UsageError(`${this.command}: --broker and --hosts-file are two ways to find the hosts; give one of them`);
    }
    const brokerText = flag('broker') ?? (flag('hosts-file') === undefined ? env('NIXFLEET_BROKER') : undefined);
    const credentials = flag('credentials') ?? env('NIXFLEET_BROKER_CREDENTIALS');
    if (brokerText === undefined) {
      if (flag('credentials') !== undefined) throw new UsageError(`${this.command}: --credentials is the broker's login and goes with --broker URL; hosts from --hosts-file use --tokens-file`);
      return undefined;
    }
    if (flag('broker') === undefined && env('NIXFLEET_HOSTS_FILE')) {
      throw new UsageError(`${this.command}: both $NIXFLEET_BROKER and $NIXFLEET_HOSTS_FILE are set; unset one, or choose with --broker or --hosts-file`);
    }
    if (flag('tokens-file') !== undefined) throw new UsageError(`${this.command}: --tokens-file is for hosts from --hosts-file; through --broker the operator's --credentials FILE is the login`);
    const urls = parseBrokerUrls(brokerText);
    if (typeof urls === 'string') throw new UsageError(`${this.command}: ${urls}`);
    if (credentials === undefined) {
      throw new UsageError(`${this.command}: --broker needs the operator's NATS credentials: --credentials FILE (an nkey seed from "nixfleet-agent broker-config --operators NAME", or a .creds file) or $NIXFLEET_BROKER_CREDENTIALS`);
    }
    return { urls, credentials: readCredentialsFile(path.resolve(credentials)) };
  }

  /** The hosts: the broker's (see prepare), or --hosts-file (or $NIXFLEET_HOSTS_FILE) with tokens from --tokens-file and the environment. */
  source(): HostSource {
    if (this.hostSource) return this.hostSource;
    const hostsFile = stringFlag(this.flags, 'hosts-file') ?? (this.e.env.NIXFLEET_HOSTS_FILE || undefined);
    if (!hostsFile) {
      throw new UsageError(`${this.command}: say where the hosts are: --hosts-file FILE (the JSON list of the nixfleet.hosts setting) or $NIXFLEET_HOSTS_FILE`);
    }
    const tokensFile = stringFlag(this.flags, 'tokens-file') ?? (this.e.env.NIXFLEET_TOKENS_FILE || undefined);
    const entries = readHostsFile(path.resolve(hostsFile));
    const tokens = tokensFile ? readTokensFile(path.resolve(tokensFile)) : new Map<string, string>();
    const store = new TokenStore(tokens, this.e.env, entries.map((h) => h.name), tokensFile && path.resolve(tokensFile));
    this.hostSource = new DirectHostSource(path.resolve(hostsFile), entries, store);
    return this.hostSource;
  }

  connections(): Connections {
    this.conns ??= new Connections(this.source());
    return this.conns;
  }

  /** A host named on the command line must be one of the source's. */
  knownHost(host: string): string {
    const hosts = this.source().hosts();
    if (!hosts.some((h) => h.name === host)) {
      throw new UsageError(`${this.command}: host ${host} is not in ${this.source().description}; known hosts: ${hosts.map((h) => h.name).join(', ') || 'none'}`);
    }
    return host;
  }

  /** Refuse at once (before connecting) when the command could not be confirmed at all. */
  requireConfirmable(what: string): void {
    requireConfirmable(what, this.yes, this.e.io);
  }

  confirm(what: string, question: string): Promise<void> {
    return confirm(what, question, this.yes, this.e.io);
  }

  /** A question can be asked on a terminal (stdin and stderr both are one). */
  get canAsk(): boolean {
    return canAsk(this.e.io);
  }

  choose<T extends string>(question: string, choices: readonly T[]): Promise<T> {
    return choose(question, choices, this.e.io);
  }

  opId(kind: OpKind): string {
    const given = stringFlag(this.flags, 'op-id');
    if (given === undefined) return newOpId(kind);
    if (!OP_ID_RE.test(given)) throw new UsageError(`${this.command}: --op-id "${printable(given)}" is not an op id (1-64 letters, digits, "_" and "-", starting with a letter or digit)`);
    return given;
  }

  async close(): Promise<void> {
    this.conns?.closeAll();
    await this.hostSource?.close?.();
  }
}
