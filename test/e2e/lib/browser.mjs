// Debian's headless Chromium driven by playwright-core (installed in .tools/), plus the
// workbench selectors that the UI tests share. Flags per shared/VSCODE-E2E.md: without the
// background-networking ones Chromium keeps trying the (closed) network.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { existsSync } from 'node:fs';

export const CHROMIUM = process.env.NIXFLEET_E2E_CHROMIUM || '/usr/bin/chromium';

/** `home`: a temp folder for Chromium's HOME and XDG dirs (crash reports, caches). */
export async function launchChromium(toolsDir, home) {
  const entry = path.join(toolsDir, 'node_modules', 'playwright-core', 'index.mjs');
  if (!existsSync(entry)) throw new Error(`playwright-core is not installed in ${toolsDir}: run bash scripts/install-test-tools.sh`);
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (or set NIXFLEET_E2E_CHROMIUM)`);
  const { chromium } = await import(pathToFileURL(entry).href);
  return chromium.launch({
    executablePath: CHROMIUM,
    timeout: 30_000,
    env: {
      ...process.env,
      HOME: home,
      XDG_CONFIG_HOME: path.join(home, '.config'),
      XDG_CACHE_HOME: path.join(home, '.cache'),
      XDG_DATA_HOME: path.join(home, '.local/share'),
    },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** U+00A0 (the output panel's spaces) and runs of whitespace → one space. */
export function normalise(text) {
  return text.replace(/\u00a0/g, ' ').replace(/[ \t]+/g, ' ');
}

export const sel = {
  workbench: '.monaco-workbench',
  activityBar: '.monaco-workbench .part.activitybar',
  sidebar: '.part.sidebar',
  treeRow: '.part.sidebar .monaco-list-row',
  quickInput: '.quick-input-widget',
  quickInputBox: '.quick-input-widget input',
  quickInputRow: '.quick-input-list .monaco-list-row',
  contextMenu: '.context-view .monaco-menu, .context-view .monaco-scrollable-element .actions-container',
  contextMenuItem: '.context-view .action-item',
  panel: '.part.panel',
  outputLines: '.part.panel .view-lines',
  notification: '.notifications-toasts .notification-toast',
  notificationCenterItem: '.notifications-center .notification-list-item',
  dialog: '.monaco-dialog-box',
  statusBar: '.part.statusbar',
};
