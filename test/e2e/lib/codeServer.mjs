// One code-server instance (VS Code's own server; its extension host is VS Code's real Node
// extension host): private user-data, extensions and XDG dirs under `dir`, loopback only,
// started in its own process group, ready when /healthz answers.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { freePort, startGroup, stopGroup, waitFor } from './procs.mjs';

export function codeServerBin(toolsDir) {
  return path.join(toolsDir, 'node_modules', '.bin', 'code-server');
}

/** Environment for code-server and its extension host: everything stays under `dir`. */
export function isolatedEnv(dir, extra = {}) {
  const env = { ...process.env };
  // The harness's own settings must not leak into VS Code's Node processes.
  delete env.NODE_OPTIONS;
  delete env.ELECTRON_RUN_AS_NODE;
  for (const k of Object.keys(env)) if (k.startsWith('npm_') || k.startsWith('VSCODE_')) delete env[k];
  return {
    ...env,
    HOME: path.join(dir, 'home'),
    XDG_CONFIG_HOME: path.join(dir, 'xdg-config'),
    XDG_DATA_HOME: path.join(dir, 'xdg-data'),
    XDG_CACHE_HOME: path.join(dir, 'xdg-cache'),
    ...extra,
  };
}

export class CodeServer {
  /**
   * @param {object} o
   * @param {string} o.toolsDir   .tools folder (install-test-tools.sh)
   * @param {string} o.dir        private folder for this instance
   * @param {object} o.settings   user settings.json content
   * @param {object} o.env        extra environment (inherited by the extension host)
   * @param {boolean} o.workspaceTrust  leave workspace trust to the settings instead of
   *   --disable-workspace-trust (which the workbench takes as "trust is off" whatever the
   *   settings say), so a test can turn `security.workspace.trust.enabled` on and reload
   */
  constructor({ toolsDir, dir, settings, env = {}, workspaceTrust = false }) {
    this.workspaceTrust = workspaceTrust;
    this.settings = settings;
    this.bin = codeServerBin(toolsDir);
    this.dir = dir;
    this.userDataDir = path.join(dir, 'user-data');
    this.extensionsDir = path.join(dir, 'extensions');
    this.logFile = path.join(dir, 'code-server.log');
    for (const d of ['home', 'xdg-config', 'xdg-data', 'xdg-cache', 'user-data/User', 'extensions']) {
      mkdirSync(path.join(dir, d), { recursive: true });
    }
    this.writeSettings(settings);
    // A git identity, as on any developer's machine: the extension commits (git revert) in
    // the workspace clone, and git refuses to commit without one.
    writeFileSync(path.join(dir, 'home', '.gitconfig'), '[user]\n\tname = NixFleet e2e user\n\temail = e2e-user@example.invalid\n');
    this.env = isolatedEnv(dir, env);
    this.proc = null;
    this.port = null;
  }

  writeSettings(settings) {
    this.settings = settings;
    writeFileSync(path.join(this.userDataDir, 'User', 'settings.json'), JSON.stringify(settings, null, 2) + '\n');
  }

  run(args, timeoutMs = 120_000) {
    const r = spawnSync(this.bin, ['--user-data-dir', this.userDataDir, '--extensions-dir', this.extensionsDir, ...args], {
      env: this.env,
      encoding: 'utf8',
      timeout: timeoutMs,
    });
    if (r.error) throw new Error(`code-server ${args.join(' ')}: ${r.error.message}`);
    if (r.status !== 0) {
      throw new Error(`code-server ${args.join(' ')} exited ${r.status}: ${(r.stderr || r.stdout).trim().slice(-2000)}`);
    }
    return r.stdout;
  }

  /** Install a .vsix; returns the folder it was unpacked to. */
  installExtension(vsix, id) {
    this.run(['--install-extension', vsix, '--force']);
    const listed = this.run(['--list-extensions', '--show-versions']);
    if (!listed.toLowerCase().split('\n').some((l) => l.startsWith(id.toLowerCase() + '@'))) {
      throw new Error(`code-server does not list ${id} after installing ${vsix}; it lists: ${listed.trim() || '(nothing)'}`);
    }
    const folder = readdirSync(this.extensionsDir).find((f) => f.toLowerCase().startsWith(id.toLowerCase() + '-'));
    if (!folder) throw new Error(`no folder for ${id} in ${this.extensionsDir}`);
    return { folder: path.join(this.extensionsDir, folder), listed: listed.trim() };
  }

  async start(workspace) {
    this.port = await freePort();
    this.workspace = workspace;
    const argv = [
      this.bin,
      '--user-data-dir', this.userDataDir,
      '--extensions-dir', this.extensionsDir,
      '--auth', 'none',
      '--bind-addr', `127.0.0.1:${this.port}`,
      '--disable-telemetry',
      '--disable-update-check',
      ...(this.workspaceTrust ? [] : ['--disable-workspace-trust']),
      '--disable-getting-started-override',
      '--ignore-last-opened',
      workspace,
    ];
    this.proc = startGroup('code-server', argv, { cwd: this.dir, env: this.env, logFile: this.logFile });
    await waitFor(
      `code-server /healthz on 127.0.0.1:${this.port} (log: ${this.logFile})`,
      async () => {
        if (this.proc.exitedAt) throw Object.assign(new Error(`code-server exited early; see ${this.logFile}`), { fatal: true });
        const res = await fetch(`http://127.0.0.1:${this.port}/healthz`, { signal: AbortSignal.timeout(1000) });
        return res.ok;
      },
      { timeoutMs: 30_000, everyMs: 100 },
    );
  }

  get origin() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** A vscode-remote URI for a path on this machine, as the workbench's payload wants it. */
  remoteUri(p) {
    return `vscode-remote://127.0.0.1:${this.port}${p}`;
  }

  /**
   * Workbench URL. With `tests`, the `payload` parameter (VS Code for the web's Extension
   * Development Host mechanism) loads `tests.extensionDevelopmentPath` as the extension under
   * development and runs `tests.extensionTestsPath`'s run() in the extension host.
   */
  url({ tests } = {}) {
    const q = new URLSearchParams({ folder: this.workspace });
    let url = `${this.origin}/?${q}`;
    if (tests) {
      const payload = [
        ['extensionDevelopmentPath', this.remoteUri(tests.extensionDevelopmentPath)],
        ['extensionTestsPath', this.remoteUri(tests.extensionTestsPath)],
      ];
      url += '&payload=' + encodeURIComponent(JSON.stringify(payload));
    }
    return url;
  }

  async stop() {
    if (this.proc) await stopGroup(this.proc);
    this.proc = null;
  }

  exists() {
    return existsSync(this.bin);
  }
}
