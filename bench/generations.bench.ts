// Listing 1000 generations: listGenerations (profile links read directly) against
// `nix-env -p P --list-generations` on the same profile, side by side. Goal ≤ 0.2×.
//
// Setup: 1000 distinct real store paths (one `nix-store --add` call), generations 1-20 set
// with nix-env --set, 21-1000 written as the same links nix-env writes (P-N-link -> store
// path, P -> P-N-link) to keep the setup short; mtimes spread over ~3 years.
import { execFileSync } from 'node:child_process';
import { lutimesSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { listGenerations } from '../agent/nix/generations';

const COUNT = 1000;
const REAL = 20;
const ROUNDS = 31;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const root = mkdtempSync(path.join(tmpdir(), 'nixfleet-bench-gens-'));
  const src = path.join(root, 'src');
  const profile = path.join(root, 'profiles', 'system');
  const stateDir = path.join(root, 'state');
  mkdirSync(path.dirname(profile), { recursive: true });
  const dirs: string[] = [];
  for (let i = 1; i <= COUNT; i++) {
    const d = path.join(src, `nixos-system-bench-${i}-24.05.${i}`);
    mkdirSync(d, { recursive: true });
    writeFileSync(path.join(d, 'nixos-version'), `24.05.${i}`);
    writeFileSync(path.join(d, 'salt'), root); // distinct from other runs' paths
    dirs.push(d);
  }
  const paths = execFileSync('nix-store', ['--add', ...dirs], { encoding: 'utf8', maxBuffer: 64 << 20 }).trim().split('\n');
  if (paths.length !== COUNT) throw new Error(`nix-store --add gave ${paths.length} paths, expected ${COUNT}`);
  try {
    for (let i = 0; i < REAL; i++) execFileSync('nix-env', ['-p', profile, '--set', paths[i]!], { stdio: 'ignore' });
    const now = Date.now() / 1000;
    for (let i = REAL; i < COUNT; i++) {
      const link = `${profile}-${i + 1}-link`;
      symlinkSync(paths[i]!, link);
      const t = now - (COUNT - i) * 86_400;
      lutimesSync(link, t, t);
    }
    unlinkSync(profile);
    symlinkSync(`system-${COUNT}-link`, profile);

    const config = { profile, platform: 'nixos' as const, stateDir };
    const check = await listGenerations(config);
    const listed = execFileSync('nix-env', ['-p', profile, '--list-generations'], { encoding: 'utf8' }).trim().split('\n');
    if (check.length !== COUNT || listed.length !== COUNT) throw new Error(`expected ${COUNT} generations, got ${check.length} (ours) and ${listed.length} (nix-env)`);
    if (!check[COUNT - 1]!.current || check[COUNT - 1]!.systemVersion !== `24.05.${COUNT}`) throw new Error('listGenerations read the profile wrongly');

    const ours: number[] = [];
    const base: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      let t = performance.now();
      execFileSync('nix-env', ['-p', profile, '--list-generations'], { stdio: 'ignore' });
      base.push(performance.now() - t);
      t = performance.now();
      await listGenerations(config);
      ours.push(performance.now() - t);
    }
    const o = median(ours);
    const b = median(base);
    console.log(`generations-1000: ${(o / b).toFixed(3)}x (${o.toFixed(1)} ms vs ${b.toFixed(1)} ms) goal <=0.2`);
  } finally {
    rmSync(root, { recursive: true, force: true });
    // The profile links are gone with root: the bench's store paths are garbage now.
    try {
      execFileSync('nix-store', ['--delete', ...paths], { stdio: 'ignore' });
    } catch {
      // Still referenced somewhere (another process's temp root): a later GC removes them.
    }
  }
}

main().catch((err) => {
  console.error(`generations bench failed: ${(err as Error).message}`);
  process.exit(1);
});
