// The demo's "NixFleet repository": a local git repo holding a flake (no inputs, builder
// /bin/sh, so no nixpkgs is needed) whose packages.<system>.nixfleet-agent is this checkout's
// real agent, bundled by scripts/build.mjs with a demo version baked in. The demo nixcfg pins
// it as input "nixfleet" (git+file://…), every host's system carries the package, and each
// host's agent runs from it: so Update Agent (self-update) really moves the lock, rebuilds,
// and the restarted agent reports the new version.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { arch } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface AgentRepo {
  dir: string;
  /** The flake URL the nixcfg's input "nixfleet" uses. */
  url: string;
  /** The version the repo's HEAD builds. */
  version: string;
  /** Commit the bundle of `version` (built by prepare) as the repo's new HEAD. */
  release(version: string): Promise<string>;
}

function nixSystem(): string {
  if (arch() === 'x64') return 'x86_64-linux';
  if (arch() === 'arm64') return 'aarch64-linux';
  throw new Error(`demo: unsupported architecture ${arch()}`);
}

// The package mirrors nix/package.nix's layout (lib/nixfleet-agent/agent.js beside a
// CommonJS package.json, bin/nixfleet-agent running it with Node); Node is the one running
// the demo instead of nixpkgs' (the demo has no nixpkgs).
function flakeNix(node: string): string {
  const system = nixSystem();
  return `{
  description = "NixFleet agent (demo build of this checkout's dist/agent.js; no inputs)";
  outputs = { self }:
    let version = builtins.replaceStrings [ "\\n" ] [ "" ] (builtins.readFile ./version);
    in {
      lib.version = version;
      packages.${JSON.stringify(system)}.nixfleet-agent = derivation {
        name = "nixfleet-agent-\${version}";
        system = ${JSON.stringify(system)};
        builder = "/bin/sh";
        PATH = "/usr/bin:/bin";
        bundle = ./agent.js;
        node = ${JSON.stringify(node)};
        args = [ "-c" ''
          set -e
          mkdir -p $out/bin $out/lib/nixfleet-agent
          cp $bundle $out/lib/nixfleet-agent/agent.js
          echo '{"type":"commonjs"}' > $out/lib/nixfleet-agent/package.json
          printf '#!/bin/sh\\nexec %s %s "$@"\\n' "$node" "$out/lib/nixfleet-agent/agent.js" > $out/bin/nixfleet-agent
          chmod +x $out/bin/nixfleet-agent
        '' ];
      };
    };
}
`;
}

async function git(cwd: string, env: NodeJS.ProcessEnv, ...args: string[]): Promise<string> {
  return (await execFileP('git', args, { cwd, env })).stdout.trim();
}

/**
 * Bundle the agent once per version (in parallel: esbuild, about a second each), then make
 * the repo with `versions[0]` as its first commit. release(versions[i]) commits a later one.
 */
export async function createAgentRepo(opts: { root: string; dir: string; versions: string[]; env: NodeJS.ProcessEnv }): Promise<AgentRepo> {
  const { root, dir, versions, env } = opts;
  const bundles = path.join(dir, 'bundles');
  await Promise.all(
    versions.map((v) =>
      execFileP(process.execPath, [path.join(root, 'scripts/build.mjs'), '--only=agent', '--production', `--outdir=${path.join(bundles, v)}`], {
        cwd: root,
        env: { ...process.env, NIXFLEET_BUILD_VERSION: v },
      }).catch((err: Error & { stderr?: string }) => {
        throw new Error(`bundling the demo agent ${v} failed: ${(err.stderr ?? err.message).trim().split('\n').slice(-3).join(' ')}; run npm ci, then npm start again`);
      }),
    ),
  );
  const repo = path.join(dir, 'nixfleet');
  mkdirSync(repo, { recursive: true });
  await git(repo, env, 'init', '-q', '--initial-branch=main');
  writeFileSync(path.join(repo, 'flake.nix'), flakeNix(process.execPath));
  const agentRepo: AgentRepo = {
    dir: repo,
    url: `git+file://${repo}`,
    version: '',
    async release(version) {
      if (!versions.includes(version)) throw new Error(`demo: agent ${version} was not bundled (bundled: ${versions.join(', ')})`);
      writeFileSync(path.join(repo, 'agent.js'), readFileSync(path.join(bundles, version, 'agent.js')));
      writeFileSync(path.join(repo, 'version'), version + '\n');
      await git(repo, env, 'add', '-A'); // a git flake sees tracked files only
      await git(repo, env, 'commit', '-q', '-m', `nixfleet-agent ${version}`);
      agentRepo.version = version;
      return git(repo, env, 'rev-parse', 'HEAD');
    },
  };
  await agentRepo.release(versions[0]!);
  return agentRepo;
}
