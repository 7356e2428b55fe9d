// `nixfleet` over ssh:// hosts, as the extension reaches them: a real OpenSSH server on
// 127.0.0.1 runs `nixfleet-agent stdio` for a real agent on the Nix test bed. No token is
// needed (ssh logs in with its key); a magic-rollback switch is confirmed over a second ssh
// connection; an unknown host key fails at once with what to do, never a prompt.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { opInfo } from '../../protocol';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { startSshd, type SshServer } from '../fixtures/sshd';
import { AGENT_JS } from './agent-harness';
import { NIXFLEET_JS, profileGeneration, runCli } from './cli-harness';

describe('nixfleet over ssh://', { skip: (!existsSync(AGENT_JS) || !existsSync(NIXFLEET_JS)) && 'dist/ missing: run npm run build' }, () => {
  let bed: TestBed;
  let sshd: SshServer;
  let dir: string;
  let hostsFile: string;

  before(async () => {
    bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    // Generation 1, so a switch has a generation to go back to (else magic rollback has nothing to guard).
    const storePath = await bed.build('h1', bed.workstation);
    await promisify(execFile)('nix-env', ['-p', bed.host('h1').profile, '--set', storePath], { env: bed.env });
    const agentConfig = bed.writeConfig('h1');
    const env: Record<string, string> = { PATH: `${bed.binDir}:/usr/local/bin:/usr/bin:/bin`, NIXFLEET_TESTBED_ROOT: bed.root };
    for (const k of ['GIT_AUTHOR_NAME', 'GIT_AUTHOR_EMAIL', 'GIT_COMMITTER_NAME', 'GIT_COMMITTER_EMAIL']) if (bed.env[k]) env[k] = bed.env[k]!;
    sshd = await startSshd({ env });
    dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-cli-ssh-'));
    hostsFile = path.join(dir, 'hosts.json');
    const address = `ssh://${sshd.user}@127.0.0.1:${sshd.port}`;
    writeFileSync(hostsFile, JSON.stringify([
      { name: 'h1', address, platform: 'nixos', agentConfig, sshConfig: sshd.sshConfig },
      // The same server, but a client config whose known_hosts lacks its key.
      { name: 'h2', address, platform: 'nixos', agentConfig, sshConfig: sshd.clientConfig({ knownHosts: false }) },
    ]));
  });

  after(async () => {
    await sshd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await bed?.cleanup();
  });

  it('hosts and switch over ssh without any token; magic rollback confirmed over a second ssh connection', async () => {
    const hosts = await runCli(['hosts', '--json', '--hosts-file', hostsFile]);
    assert.equal(hosts.status, 0, hosts.stderr);
    const [h1, h2] = JSON.parse(hosts.stdout) as { name: string; online: boolean; error?: string }[];
    assert.equal(h1!.online, true);
    assert.equal(h2!.online, false);
    assert.match(h2!.error!, /host key is not in known_hosts and ssh runs without prompts \(BatchMode\).*not retrying: fix it, then run the command again/);

    const commit = await bed.setVersion('h1', '24.05.8');
    const sw = await runCli(['switch', 'h1', '--rev', commit, '--yes', '--json', '--hosts-file', hostsFile]);
    assert.equal(sw.status, 0, sw.stderr);
    const op = opInfo.parse(JSON.parse(sw.stdout));
    assert.equal(op.state, 'succeeded');
    assert.match(op.client.auth, /^stdio:/, 'the agent saw an ssh (stdio) client');
    assert.match(sw.stderr, /confirmed op \S+ over a new connection: host h1 is still reachable \(magic rollback\)/);
    assert.equal(profileGeneration(bed.host('h1').profile), op.result!.generationAfter);
  });

  it('an ssh host with an unknown host key fails at once in one sentence, exit 1', async () => {
    const r = await runCli(['status', 'h2', '--hosts-file', hostsFile]);
    assert.equal(r.status, 1);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^nixfleet: host h2 is offline \(ssh to \S+: the host key is not in known_hosts/);
  });
});
