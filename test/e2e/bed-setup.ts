// Creates the real-Nix demo fleet for one e2e phase and prints what the harness needs as JSON.
// Run with: node --import tsx test/e2e/bed-setup.ts OUT.json '{"h1":7001,...}'
//
// The fleet is helper A's test bed (test/fixtures/testbed.ts): a nixcfg flake with h1 (nixos),
// h2 (darwin) and alice@h3 (home-manager), a bare origin and one checkout per host. Each host
// gets three system generations (versions 24.05.1-3, built with real `nix build` from real
// commits and set with `nix-env -p PROFILE --set`), and its checkout is pulled to origin's
// head, so the running system was built from the checked-out commit. Each host gets an agent
// config listening on the loopback port the harness chose.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { createTestBed } from '../fixtures/testbed';

const execFileP = promisify(execFile);

async function main(): Promise<void> {
  const [outFile, portsJson] = process.argv.slice(2);
  if (!outFile || !portsJson) throw new Error('usage: bed-setup.ts OUT.json PORTS_JSON (e.g. {"h1":7001})');
  const ports = JSON.parse(portsJson) as Record<string, number>;

  const bed = await createTestBed();
  const names = Object.keys(bed.hosts);
  for (const n of names) {
    if (!Number.isInteger(ports[n])) throw new Error(`bed-setup: no port given for host ${n}`);
  }
  const setProfile = (profile: string, storePath: string) =>
    execFileP('nix-env', ['-p', profile, '--set', storePath], { env: bed.env });

  const generations: Record<string, { version: string; storePath: string }[]> = {};
  for (const n of names) generations[n] = [];
  const versions = ['24.05.1', '24.05.2', '24.05.3'];
  for (const [i, version] of versions.entries()) {
    if (i > 0) for (const n of names) await bed.setVersion(n, version);
    for (const n of names) {
      const storePath = await bed.build(n, bed.workstation);
      await setProfile(bed.hosts[n]!.profile, storePath);
      generations[n]!.push({ version, storePath });
    }
  }
  for (const n of names) {
    await execFileP('git', ['pull', '-q', '--ff-only', 'origin', 'main'], { cwd: bed.hosts[n]!.checkout, env: bed.env });
  }

  const hosts = names.map((n) => {
    const h = bed.hosts[n]!;
    const config = bed.writeConfig(n, { listen: `127.0.0.1:${ports[n]}` });
    return {
      name: n,
      platform: h.platform,
      address: `ws://127.0.0.1:${ports[n]}`,
      port: ports[n],
      dir: h.dir,
      profile: h.profile,
      stateDir: h.stateDir,
      activationLog: h.activationLog,
      hookFile: h.hookFile,
      checkout: h.checkout,
      config,
      generations: generations[n],
    };
  });
  const out = {
    root: bed.root,
    origin: bed.origin,
    workstation: bed.workstation,
    binDir: bed.binDir,
    token: bed.token,
    tokenFile: bed.tokenFile,
    path: bed.env.PATH,
    hosts,
  };
  writeFileSync(outFile, JSON.stringify(out, null, 2) + '\n', { mode: 0o600 });
}

main().catch((err: unknown) => {
  console.error(`bed-setup: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
