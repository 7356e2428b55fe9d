// The page every NixFleet webview serves: a strict CSP that allows only this page's own style
// and script (by a fresh nonce) and nothing remote. Each view brings its styles, its markup and
// its script, which renders posted JSON with DOM APIs (never innerHTML from data).
import { randomBytes } from 'node:crypto';

export function webviewPage(o: { style: string; body: string; script: string }): string {
  const nonce = randomBytes(16).toString('base64');
  const csp = `default-src 'none'; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}';`;
  return `<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<style nonce="${nonce}">${o.style}</style></head><body>
${o.body}
<script nonce="${nonce}">${o.script}</script></body></html>`;
}
