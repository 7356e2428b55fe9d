// The switch op against the same Nix commands run by hand (nix build --json --no-link,
// nix-env --set, switch-to-configuration switch), side by side on two identical hosts of
// one test bed, each round after a new commit so both really build. Goal ≤ 1.2×.
import { runCommand } from '../agent/exec';
import { parseBuildJson } from '../agent/nix/system';
import { executeOp } from '../agent/ops/registry';
import { createTestBed, testOpContext } from '../test/fixtures/testbed';
import { execFileSync } from 'node:child_process';

const ROUNDS = 9;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const bed = await createTestBed({ hosts: [{ name: 'ours', platform: 'nixos' }, { name: 'byhand', platform: 'nixos' }] });
  try {
    const ours: number[] = [];
    const base: number[] = [];
    const quiet = () => {};
    const hand = bed.host('byhand');
    for (let r = 0; r <= ROUNDS; r++) {
      await bed.commit({ 'hosts/ours/version': `24.11.${r}\n`, 'hosts/byhand/version': `24.11.${r}\n` }, `round ${r}`);
      for (const h of [bed.host('ours'), hand]) execFileSync('git', ['pull', '-q', '--ff-only'], { cwd: h.checkout, env: bed.env });
      const runBaseline = async () => {
        const t = performance.now();
        const built = await runCommand(['nix', 'build', '--json', '--no-link', `${hand.checkout}#${hand.attr}`], quiet, { capture: true, quietStdout: true });
        const out = parseBuildJson(built.stdout);
        await runCommand(['nix-env', '-p', hand.profile, '--set', out], quiet);
        await runCommand([`${out}/bin/switch-to-configuration`, 'switch'], quiet);
        return performance.now() - t;
      };
      const runOurs = async () => {
        const { ctx } = await testOpContext(bed, 'ours');
        const t = performance.now();
        const result = await executeOp('switch', ctx, {});
        const ms = performance.now() - t;
        if (result.generationAfter !== r + 1) throw new Error(`switch made generation ${result.generationAfter}, expected ${r + 1}`);
        return ms;
      };
      // Alternate who goes first; round 0 warms both up and is not counted.
      const [a, b] = r % 2 ? [await runOurs(), await runBaseline()] : [await runBaseline(), await runOurs()].reverse();
      if (r > 0) {
        ours.push(a!);
        base.push(b!);
      }
    }
    const o = median(ours);
    const b = median(base);
    console.log(`switch: ${(o / b).toFixed(3)}x (${o.toFixed(1)} ms vs ${b.toFixed(1)} ms) goal <=1.2`);
  } finally {
    await bed.cleanup();
  }
}

main().catch((err) => {
  console.error(`switch bench failed: ${(err as Error).message}`);
  process.exit(1);
});
