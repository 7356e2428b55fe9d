// NixFleet demo helper (installed only into the demo's private VS Code profile by
// scripts/demo.mjs). The demo writes its agents' tokens to a 0600 file and names it in
// NIXFLEET_DEMO_TOKENS; this extension hands each token to NixFleet's public
// "Set Agent Token" command (which stores it in SecretStorage). It does so at every start:
// with code-server, SecretStorage lives in the browser, so each new browser needs them. The
// file is removed with the demo's temp dir when the demo stops. The real extension has no
// demo mode and never reads tokens from the environment.
'use strict';
const fs = require('node:fs');
const vscode = require('vscode');

async function activate() {
  const file = process.env.NIXFLEET_DEMO_TOKENS;
  if (!file || !fs.existsSync(file)) return;
  let entries;
  try {
    entries = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (!Array.isArray(entries)) throw new Error('not a list');
  } catch (err) {
    vscode.window.showErrorMessage(`NixFleet demo: cannot read the demo tokens in ${file}: ${err.message}`);
    return;
  }
  const nixfleet = vscode.extensions.getExtension('nixfleet.nixfleet');
  if (nixfleet) await nixfleet.activate();
  const stored = [];
  for (const { host, token } of entries) {
    try {
      await vscode.commands.executeCommand('nixfleet.setAgentToken', { host, token });
      stored.push(host);
    } catch (err) {
      vscode.window.showErrorMessage(`NixFleet demo: Set Agent Token for ${host} failed: ${err.message}`);
    }
  }
  try {
    await vscode.commands.executeCommand('nixfleet.refresh');
  } catch {
    /* the Fleet view refreshes on its own when it is opened */
  }
  if (stored.length) {
    vscode.window.showInformationMessage(`NixFleet demo: agent tokens for ${stored.join(', ')} are in SecretStorage. Open the NixFleet view in the activity bar.`);
    await vscode.commands.executeCommand('workbench.view.extension.nixfleet').then(undefined, () => undefined);
  }
}

module.exports = { activate, deactivate() {} };
