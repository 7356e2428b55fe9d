// extensionTestsPath for the UI phase of the e2e harness. It runs inside the real extension
// host (code-server's), next to the extension under test, and does the one thing the UI
// cannot: hand the agents' tokens to the extension through its "Set Agent Token" command
// executed with arguments (the tokens go to SecretStorage, never to settings). It reports
// what it did in `ready` and ends; the workbench reports its exit code to the harness, which
// then reloads the workbench without the test runner (VS Code refuses modal dialogs while an
// extension test runner is active) and drives the UI in Chromium.
//
// Environment (set by test/e2e/run.mjs on code-server, inherited by the extension host):
//   NIXFLEET_E2E_HOSTS       JSON list of { name, address, platform, token? }
//   NIXFLEET_E2E_BRIDGE_DIR  folder for `ready`
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const vscode = require('vscode');

const EXTENSION_ID = 'nixfleet.nixfleet';

function writeReady(dir, report) {
  const tmp = path.join(dir, 'ready.tmp');
  fs.writeFileSync(tmp, JSON.stringify(report) + '\n');
  fs.renameSync(tmp, path.join(dir, 'ready'));
}

async function run() {
  const dir = process.env.NIXFLEET_E2E_BRIDGE_DIR;
  if (!dir) throw new Error('ui-bridge: NIXFLEET_E2E_BRIDGE_DIR is not set; the e2e harness sets it');
  const report = { extension: null, activated: false, tokens: [], errors: [] };
  try {
    const hosts = JSON.parse(process.env.NIXFLEET_E2E_HOSTS || '[]');
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    if (!ext) throw new Error(`extension ${EXTENSION_ID} is not loaded in the extension host`);
    report.extension = { id: ext.id, version: ext.packageJSON.version, path: ext.extensionPath };
    await ext.activate();
    report.activated = ext.isActive;
    const commands = await vscode.commands.getCommands(true);
    for (const h of hosts) {
      if (!h.token) continue;
      if (!commands.includes('nixfleet.setAgentToken')) {
        report.errors.push('the extension has no command nixfleet.setAgentToken, so the agents cannot get their tokens');
        break;
      }
      try {
        await vscode.commands.executeCommand('nixfleet.setAgentToken', { host: h.name, token: h.token });
        report.tokens.push(h.name);
      } catch (err) {
        report.errors.push(`nixfleet.setAgentToken for ${h.name}: ${err && err.message ? err.message : String(err)}`);
      }
    }
  } catch (err) {
    report.errors.push(err && err.stack ? err.stack : String(err));
  }
  writeReady(dir, report);
  if (report.errors.length) throw new Error(report.errors.join('; '));
}

module.exports = { run };
