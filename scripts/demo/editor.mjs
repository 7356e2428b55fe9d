// Opens the demo in VS Code: the user's `code` when it is on PATH, else code-server (VS Code's
// own server, installed into .tools/ by scripts/install-test-tools.sh) on loopback in the
// browser. Either way in a private profile (user-data and extensions dirs inside the demo's
// temp dir), so the user's own VS Code setup is never touched.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

function which(cmd) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const p = path.join(dir, cmd);
    if (dir && existsSync(p)) return p;
  }
  return null;
}

function sh(what, cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  if (r.error || r.status !== 0) {
    const out = `${r.stdout || ''}${r.stderr || ''}`.trim().split('\n').slice(-15).join('\n');
    throw new Error(`${what} failed (${r.error ? r.error.message : `exit ${r.status}`}):\n${out}`);
  }
  return r.stdout;
}

export function chooseEditor() {
  const forced = process.env.NIXFLEET_DEMO_EDITOR;
  if (forced && forced !== 'code' && forced !== 'code-server') {
    throw new Error(`NIXFLEET_DEMO_EDITOR must be "code" or "code-server", not "${forced}"`);
  }
  const code = which('code');
  if (forced === 'code' && !code) throw new Error('NIXFLEET_DEMO_EDITOR=code but there is no `code` command on PATH');
  return forced === 'code-server' || !code ? { kind: 'code-server' } : { kind: 'code', bin: code };
}

/** vsce (a devDependency) and code-server from .tools/, installing it when missing. */
export function ensureTools(root, log) {
  const vsce = path.join(root, 'node_modules/.bin/vsce');
  const codeServer = path.join(root, '.tools/node_modules/.bin/code-server');
  if (!existsSync(codeServer)) {
    log('installing code-server into .tools/ (scripts/setup.sh tools; about 3 minutes the first time on 2 cores: it compiles native modules)');
    const r = spawnSync('bash', [path.join(root, 'scripts/setup.sh'), 'tools'], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error('scripts/setup.sh tools failed; see its output above');
  }
  return { vsce, codeServer };
}

/** Package a folder with vsce from a staged copy (vsce walks the whole folder before ignoring). */
function packageFolder(vsce, from, out, { skip = [] } = {}) {
  const stage = `${out}.stage`;
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  const skipped = new Set(['node_modules', '.tools', '.git', '.test-artifacts', '.bench-results', 'out', ...skip]);
  for (const name of readdirSync(from)) {
    if (skipped.has(name) || name.endsWith('.vsix')) continue;
    cpSync(path.join(from, name), path.join(stage, name), { recursive: true });
  }
  sh(`vsce package (${from})`, vsce, ['package', '--no-dependencies', '--allow-missing-repository', '--skip-license', '--no-rewrite-relative-links', '-o', out], { cwd: stage });
  rmSync(stage, { recursive: true, force: true });
  return out;
}

export function packageExtensions(root, vsce, dir) {
  mkdirSync(dir, { recursive: true });
  // The extension exactly as `npm run package` makes it.
  const main = path.join(dir, 'nixfleet.vsix');
  sh('npm run package', process.execPath, [path.join(root, 'scripts/package-extension.mjs'), `--out=${main}`], { cwd: root });
  const seeder = packageFolder(vsce, path.join(root, 'scripts/demo/token-seeder'), path.join(dir, 'nixfleet-demo-tokens.vsix'));
  return [main, seeder];
}

/**
 * Install the extensions into a private profile, write its settings (the hosts; never the
 * tokens), hand the tokens over through a 0600 file, and start the editor on `workspace`.
 * Returns { kind, url?, child, stop() }.
 */
export async function launchEditor({ root, dir, workspace, hosts, editor, tools, vsixes, log, freePort }) {
  const userData = path.join(dir, 'user-data');
  const extensions = path.join(dir, 'extensions');
  mkdirSync(path.join(userData, 'User'), { recursive: true });
  mkdirSync(extensions, { recursive: true });
  const settings = {
    'nixfleet.hosts': hosts.map((h) => ({ name: h.name, address: h.address, platform: h.platform })),
    'security.workspace.trust.enabled': false,
    'workbench.startupEditor': 'none',
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
  };
  writeFileSync(path.join(userData, 'User', 'settings.json'), JSON.stringify(settings, null, 2) + '\n');
  const tokensFile = path.join(dir, 'demo-tokens.json');
  writeFileSync(tokensFile, JSON.stringify(hosts.map((h) => ({ host: h.name, token: h.token }))) + '\n', { mode: 0o600 });
  chmodSync(tokensFile, 0o600);

  const env = { ...process.env, NIXFLEET_DEMO_TOKENS: tokensFile };
  delete env.NODE_OPTIONS;
  for (const k of Object.keys(env)) if (k.startsWith('npm_') || k.startsWith('VSCODE_')) delete env[k];
  const bin = editor.kind === 'code' ? editor.bin : tools.codeServer;
  const profileArgs = ['--user-data-dir', userData, '--extensions-dir', extensions];
  if (editor.kind === 'code-server') {
    Object.assign(env, {
      XDG_CONFIG_HOME: path.join(dir, 'xdg-config'),
      XDG_DATA_HOME: path.join(dir, 'xdg-data'),
      XDG_CACHE_HOME: path.join(dir, 'xdg-cache'),
    });
  }
  for (const vsix of vsixes) {
    log(`installing ${path.basename(vsix)} into the demo's private ${editor.kind} profile`);
    sh(`${editor.kind} --install-extension ${path.basename(vsix)}`, bin, [...profileArgs, '--install-extension', vsix, '--force'], { env, timeout: 180_000 });
  }

  if (editor.kind === 'code') {
    // A separate user-data dir makes this its own VS Code instance, which inherits env.
    const child = spawn(bin, [...profileArgs, '--new-window', '--wait', workspace], { env, detached: true, stdio: 'ignore' });
    return { kind: 'code', child, url: null, stop: async () => {} };
  }

  const port = await freePort();
  const logFile = path.join(dir, 'code-server.log');
  const { openSync, closeSync } = await import('node:fs');
  const fd = openSync(logFile, 'a');
  const child = spawn(bin, [
    ...profileArgs,
    '--auth', 'none',
    '--bind-addr', `127.0.0.1:${port}`,
    '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust',
    '--disable-getting-started-override', '--ignore-last-opened',
    workspace,
  ], { env, detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`code-server exited at start; see ${logFile}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`code-server did not answer on 127.0.0.1:${port} within 30 s; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 150));
  }
  const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`;
  return { kind: 'code-server', child, url, logFile };
}
