// Phase 7: is the new generation healthy? No failed systemd units (NixOS), every sops
// secret the configuration declares is present, the host's own health checks pass; and
// what changed, as a closure diff between the recorded and the new generation.
import { existsSync } from 'node:fs';
import { flakeRef } from '../../nix/system';
import { errorText } from '../phaseRunner';
import { PhaseStop, type PhaseOutcome, type RunState } from '../types';
import { which } from '../which';

const CONFIG_ATTR = { nixos: 'nixosConfigurations', darwin: 'darwinConfigurations', 'home-manager': 'homeConfigurations' } as const;

/** A Nix function (an argv word, never shell text) returning secret name → path, or null without sops. */
const SOPS_PATHS =
  'h: if h ? config && h.config ? sops && h.config.sops ? secrets then builtins.mapAttrs (n: v: v.path or "/run/secrets/${n}") h.config.sops.secrets else null';

export async function postChecks(run: RunState): Promise<PhaseOutcome> {
  const { steps, config } = run;
  const failures: string[] = [];
  const done: string[] = [];

  if (config.platform === 'nixos' && which('systemctl') && existsSync('/run/systemd/system')) {
    const argv = ['systemctl', '--failed', '--no-legend', '--plain', '--no-pager'];
    if (steps.dryRun) await steps.change(argv);
    else {
      const r = await steps.inspect(argv);
      const units = r.stdout.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter(Boolean);
      if (units.length) failures.push(`failed systemd units: ${units.join(', ')}`);
      else done.push('no failed units');
    }
  } else done.push(config.platform === 'nixos' ? 'systemd not running: unit check skipped' : 'no systemd units on this platform');

  const attr = `${flakeRef(config.flake)}#${CONFIG_ATTR[config.platform]}.${JSON.stringify(config.host)}`;
  const evalArgv = ['nix', 'eval', '--json', attr, '--apply', SOPS_PATHS];
  if (steps.dryRun) await steps.change(evalArgv);
  else {
    const r = await steps.inspect(evalArgv, { allowFailure: true, timeoutMs: 300_000 });
    if (r.exitCode !== 0) done.push(`sops not checked (the configuration did not evaluate: ${r.stderrTail.at(-1) ?? 'no output'})`);
    else {
      const secrets = JSON.parse(r.stdout) as Record<string, string> | null;
      if (secrets === null) done.push('no sops secrets configured');
      else {
        const missing = Object.entries(secrets).filter(([, p]) => !existsSync(p));
        if (missing.length) failures.push(`sops secrets missing: ${missing.map(([n, p]) => `${n} (${p})`).join(', ')}`);
        else done.push(`${Object.keys(secrets).length} sops secret(s) present`);
      }
    }
  }

  if (steps.dryRun) {
    steps.say(`[dry-run] would run the ${config.healthChecks.length} health check(s) from the agent config`);
  } else {
    const hc = await run.nix.healthChecks(run.ctx);
    if (!hc.passed) failures.push(`health check failed: ${hc.detail ?? 'no detail'}`);
    else done.push(`${config.healthChecks.length} health check(s) passed`);
  }

  if (!steps.dryRun && run.before && run.after && run.before.path !== run.after.path) {
    try {
      const r = await steps.inspect(['nix', 'store', 'diff-closures', run.before.path, run.after.path], { timeoutMs: 300_000 });
      run.closureDiff = r.stdout.split('\n').filter((l) => l.trim());
      steps.say(`closure diff, generation ${run.before.generation} → ${run.after.generation}:`);
      for (const line of run.closureDiff.slice(0, 40)) steps.say(`  ${line}`);
      if (run.closureDiff.length > 40) steps.say(`  … and ${run.closureDiff.length - 40} more`);
      done.push(`closure diff: ${run.closureDiff.length} package change(s)`);
    } catch (err) {
      if (run.ctx.signal.aborted) throw err;
      run.warnings.push(`checks: no closure diff (${errorText(err).slice(0, 200)})`);
    }
  }

  run.checksPassed = failures.length === 0;
  if (failures.length) throw new PhaseStop(failures.join('; '));
  return { detail: steps.dryRun ? 'would run the checks' : done.join(', ') };
}
