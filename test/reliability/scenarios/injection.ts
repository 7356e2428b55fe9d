// Injection: shell metacharacters, "..", newlines, NUL and option-looking values in every
// string that reaches a command line or a path (commit revs, refs, flake inputs, op ids,
// generation numbers, host names, flake/profile/state paths, health-check argv), through
// the protocol, the CLI flags and the config file. Each must be rejected (an `invalid`
// error, or a non-zero exit with a clear message) and nothing may run: no op directory
// for protocol attempts, no activation, no profile change, and no marker file, which an
// injected `touch` would create.
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createTestBed } from '../../fixtures/testbed';
import { AGENT_JS, RawClient } from '../../integration/agent-harness';
import { readAudit } from '../../../agent/journal/audit';
import { Tally, check, fileText, killWorkers, opDirs, pullCheckout, readProfileLinks, startAgent, stopAllAgents, type Scenario } from '../lib';

export const injectionScenario: Scenario = {
  name: 'injection',
  async run(ctx) {
    const bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    const h = bed.host('h1');
    const marker = path.join(bed.root, 'INJECTED');
    const m = JSON.stringify(marker).slice(1, -1);
    const payloads = [
      `;touch ${m}`,
      `$(touch ${m})`,
      `\`touch ${m}\``,
      `| touch ${m}`,
      `&& touch ${m}`,
      `x\ntouch ${m}`,
      `x\u0000touch ${m}`,
      `../../../../${m}`,
      '..',
      `' ; touch ${m} ; '`,
      `-oProxyCommand=touch ${m}`,
      `--option build-hook touch`,
      `main;touch ${m}`,
      `a b`,
    ];
    const cliPayloads = ctx.quick ? payloads.filter((_, i) => [1, 7].includes(i)) : payloads;
    const tally = new Tally(ctx);
    const agent = await startAgent(bed, 'h1');
    const config = bed.writeConfig('h1');
    const snapshot = () => ({
      activations: fileText(h.activationLog),
      profile: JSON.stringify([...readProfileLinks(h.profile).targets]),
    });
    let base = snapshot();
    const nothingRan = (what: string, opsBefore?: string) => {
      check(!existsSync(marker), `${what}: the marker file exists: an injected command ran`);
      const now = snapshot();
      check(now.activations === base.activations, `${what}: an activation ran`);
      check(now.profile === base.profile, `${what}: the profile changed`);
      if (opsBefore !== undefined) check(opDirs(h.stateDir).join(',') === opsBefore, `${what}: an op was created`);
    };
    const cli = (args: string[]) => spawnSync(process.execPath, [AGENT_JS, ...args], { env: bed.env, encoding: 'utf8', timeout: 60_000 });
    try {
      const c = await RawClient.open(agent.url, bed.token);
      let id = 0;
      // ---- protocol
      const protocolCases = (p: string): [string, Record<string, unknown>][] => [
        ['switch rev', { type: 'op.start', op: `inj-${id}`, kind: 'switch', params: { rev: p } }],
        ['force-rebuild rev', { type: 'op.start', op: `inj-${id}`, kind: 'force-rebuild', params: { rev: p } }],
        ['build rev', { type: 'op.start', op: `inj-${id}`, kind: 'build', params: { rev: p } }],
        ['pull ref', { type: 'op.start', op: `inj-${id}`, kind: 'pull', params: { ref: p } }],
        ['pull rev', { type: 'op.start', op: `inj-${id}`, kind: 'pull', params: { rev: p } }],
        ['self-update input', { type: 'op.start', op: `inj-${id}`, kind: 'self-update', params: { input: p } }],
        ['rollback to (string)', { type: 'op.start', op: `inj-${id}`, kind: 'rollback', params: { to: p } }],
        ['unknown param flake', { type: 'op.start', op: `inj-${id}`, kind: 'switch', params: { flake: p } }],
        ['unknown param host', { type: 'op.start', op: `inj-${id}`, kind: 'switch', params: { host: p } }],
        ['op id', { type: 'op.start', op: p, kind: 'test', params: {} }],
        ['kind', { type: 'op.start', op: `inj-${id}`, kind: p, params: {} }],
        ['subscribe op id', { type: 'op.subscribe', op: p, fromSeq: 0 }],
        ['cancel op id', { type: 'op.cancel', op: p }],
      ];
      const generationCases: unknown[] = [-1, 0, 1.5, 2 ** 40, '1', '1;touch', 1e308, null, [1], { n: 1 }];
      for (const p of payloads) {
        for (const [what, msg] of protocolCases(p)) {
          id++;
          await tally.trial(`protocol ${what} = ${JSON.stringify(p)}`, async () => {
            const ops = opDirs(h.stateDir).join(',');
            const r = await c.request({ ...msg, id });
            check(r.type === 'error' && (r.error as { code: string }).code === 'invalid', `answered ${JSON.stringify(r).slice(0, 200)}`);
            check(((r.error as { message: string }).message ?? '').length > 10, 'the error does not say what is wrong');
            nothingRan(`protocol ${what}`, ops);
          });
        }
      }
      for (const g of generationCases) {
        id++;
        await tally.trial(`protocol rollback to = ${JSON.stringify(g)}`, async () => {
          const ops = opDirs(h.stateDir).join(',');
          const r = await c.request({ type: 'op.start', id, op: `inj-gen-${id}`, kind: 'rollback', params: { to: g } });
          check(r.type === 'error' && (r.error as { code: string }).code === 'invalid', `answered ${JSON.stringify(r).slice(0, 200)}`);
          nothingRan('protocol rollback to', ops);
        });
      }
      // The client's self-chosen name is free text: it must be neutralised, never run or split a log line.
      await tally.trial('hello client name with metacharacters and a newline', async () => {
        await bed.setVersion('h1', '24.05.9');
        await pullCheckout(bed, 'h1');
        const n = await RawClient.open(agent.url, bed.token, false);
        n.send({ type: 'hello', protocol: 1, client: { name: `$(touch ${m})\nforged audit line`, version: '1' } });
        await n.next((x) => x.type === 'welcome');
        const r = await n.request({ type: 'op.start', id: 1, op: 'inj-name', kind: 'switch', params: {} });
        check(r.type === 'result', `a valid switch was refused: ${JSON.stringify(r)}`);
        await n.request({ type: 'op.subscribe', id: 2, op: 'inj-name' });
        const end = await n.next((x) => x.type === 'op.end', 60_000);
        n.close();
        check((end.op as { state: string }).state === 'succeeded', `the switch ended ${JSON.stringify(end.op)}`);
        check(!existsSync(marker), 'the client name was executed');
        const rec = readAudit(h.stateDir).find((a) => a.op === 'inj-name');
        check(rec && !rec.client.name.includes('\n'), `audit client name not neutralised: ${JSON.stringify(rec?.client)}`);
        check(!fileText(path.join(h.stateDir, 'audit.jsonl')).includes('\nforged'), 'a forged audit line appeared');
        base = snapshot(); // this switch was meant to run
      });
      c.close();

      // ---- CLI flags
      const cliCases = (p: string): [string, string[]][] => [
        ['switch --rev', ['switch', '--config', config, '--rev', p]],
        ['pull --ref', ['pull', '--config', config, '--ref', p]],
        ['rollback --to', ['rollback', '--config', config, '--to', p]],
        ['self-update --input', ['self-update', '--config', config, '--input', p]],
        ['switch --host', ['switch', '--config', config, '--host', p]],
        ['switch --flake', ['switch', '--config', config, '--flake', `/tmp/${p}`]],
        ['switch --state-dir', ['switch', '--config', config, '--state-dir', `${h.stateDir}/../${p}`]],
        ['switch --profile', ['switch', '--config', config, `--profile=${p}`]],
        ['log <op>', ['log', '--config', config, p]],
      ];
      for (const p of cliPayloads) {
        for (const [what, args] of cliCases(p)) {
          if (args.some((a) => a.includes('\u0000'))) {
            // execve cannot carry NUL: a shell or ssh would cut the argument there. Nothing to send.
            continue;
          }
          await tally.trial(`CLI ${what} ${JSON.stringify(p)}`, async () => {
            const ops = opDirs(h.stateDir).join(',');
            const r = cli(args);
            // `--flake /tmp/<payload>` without ".." is a valid absolute path: the op starts and
            // hands it to nix as one argv element, which finds no flake there. Nothing may run.
            check(r.status !== 0, `exit 0 for ${JSON.stringify(args.slice(0, 1))} with ${JSON.stringify(p)}: ${r.stdout.slice(-200)}`);
            check(r.stderr.trim().length > 0, 'no error message');
            nothingRan(`CLI ${what}`, what === 'switch --flake' ? undefined : ops);
          });
        }
      }
      for (const g of ctx.quick ? ['1;touch', '0x10', ' 2'] : ['1;touch', '0x10', '1e3', ' 2', '-1', '2 3', '99999999999', '01', '']) {
        await tally.trial(`CLI rollback --to ${JSON.stringify(g)}`, async () => {
          const ops = opDirs(h.stateDir).join(',');
          const r = cli(['rollback', '--config', config, '--to', g]);
          check(r.status !== 0, `exit 0 for rollback --to ${JSON.stringify(g)}`);
          nothingRan('CLI rollback --to', ops);
        });
      }

      // ---- config file
      const good = JSON.parse(fileText(config)) as Record<string, unknown>;
      const configCases: [string, Record<string, unknown>][] = [];
      for (const p of cliPayloads) {
        configCases.push(['host', { host: p }]);
        configCases.push(['flake', { flake: `/tmp/../${p}` }]);
        configCases.push(['stateDir', { stateDir: `${h.stateDir}/../x${p}` }]);
        configCases.push(['profile', { profile: `rel/${p}` }]);
        configCases.push(['listen', { listen: `127.0.0.1:1${p}` }]);
        configCases.push(['agentInput', { agentInput: p }]);
      }
      configCases.push(['healthChecks as a string', { healthChecks: [`sh -c 'touch ${m}'`] }]);
      configCases.push(['healthChecks with NUL', { healthChecks: [['true\u0000touch']] }]);
      configCases.push(['unknown key', { postSwitchHook: `touch ${m}` }]);
      for (const [i, [what, override]] of configCases.entries()) {
        await tally.trial(`config ${what} ${JSON.stringify(Object.values(override)[0])}`, async () => {
          const file = path.join(bed.root, `bad-config-${i}.json`);
          writeFileSync(file, JSON.stringify({ ...good, ...override }));
          const ops = opDirs(h.stateDir).join(',');
          const r = cli(['switch', '--config', file]);
          check(r.status === 2, `exit ${r.status} (expected 2, a config error): ${r.stderr.trim().slice(0, 200)}`);
          check(/config|must|allowed|invalid|unknown/i.test(r.stderr), `unclear error: ${r.stderr.trim()}`);
          nothingRan(`config ${what}`, ops);
        });
      }
      // A health check is an argv list, never a shell line: a "command" with metacharacters
      // is one program name that does not exist.
      await tally.trial('health check argv with metacharacters is not run by a shell', async () => {
        const r = cli(['test', '--config', config, '--health-checks', JSON.stringify([[`true;touch ${m}`], ['/bin/echo', `$(touch ${m})`]])]);
        check(r.status !== 0, 'the test op passed although its first check cannot exist');
        check(!existsSync(marker), 'the health check went through a shell');
      });
    } finally {
      await stopAllAgents();
      killWorkers(h.stateDir);
      await bed.cleanup();
    }
    return tally.outcome();
  },
};
