// TLS certificate rotation without a restart: a real agent serving wss with certificates
// made by openssl (a test CA signing leaves A, B and C for 127.0.0.1). New connections
// get a renewed pair at once, open connections stay up, and a broken replacement
// (garbage, mismatched key, key readable by others, key gone) keeps the working
// certificate served, is logged once naming the file and the fix, and is picked up once fixed.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { AgentClient } from '../../src/fleet/agentClient';
import { WsTransport } from '../../src/fleet/transportWs';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { startAgent, waitFor, type RunningAgent } from './agent-harness';

let bed: TestBed;
let dir: string;
const leaf: Record<'A' | 'B' | 'C', { cert: string; key: string; fingerprint: string }> = {} as never;

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

before(async () => {
  bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
  dir = path.join(bed.root, 'tls');
  mkdirSync(dir);
  const f = (n: string) => path.join(dir, n);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=NixFleet test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
  writeFileSync(f('leaf.ext'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  for (const n of ['A', 'B', 'C'] as const) {
    openssl(['req', ...ec, '-keyout', f(`${n}.key`), '-out', f(`${n}.csr`), '-subj', `/CN=127.0.0.1/O=leaf ${n}`]);
    openssl(['x509', '-req', '-in', f(`${n}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2',
      '-extfile', f('leaf.ext'), '-out', f(`${n}.crt`)]);
    const cert = readFileSync(f(`${n}.crt`), 'utf8');
    leaf[n] = { cert, key: readFileSync(f(`${n}.key`), 'utf8'), fingerprint: new X509Certificate(cert).fingerprint256 };
  }
});
after(async () => {
  await bed?.cleanup();
});

/** Replace a file the way ACME clients do: write a temporary file, rename it over. */
function install(file: string, content: string, mode = 0o600): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, content, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

/** A fresh TLS connection that trusts only the test CA: the served certificate's fingerprint. */
function served(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(path.join(dir, 'ca.crt')) }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.end();
      resolve(fp);
    });
    s.once('error', reject);
  });
}

const count = (text: string, re: RegExp) => text.split('\n').filter((l) => re.test(l)).length;

describe('agent TLS certificate rotation', () => {
  test('a renewed pair is served without a restart; a broken one keeps the working pair and is logged once', async () => {
    const certFile = path.join(dir, 'cert.pem');
    const keyFile = path.join(dir, 'key.pem');
    install(certFile, leaf.A.cert, 0o644);
    install(keyFile, leaf.A.key);
    const agent: RunningAgent = await startAgent(bed, 'h1', { overrides: { tlsCert: certFile, tlsKey: keyFile } });
    const url = `wss://127.0.0.1:${agent.port}`;
    const client = () => new AgentClient({ transport: () => new WsTransport({ url, token: bed.token, caFile: path.join(dir, 'ca.crt') }), clientName: 'tls-rotation', reconnect: false });
    const early = client();
    try {
      assert.match(agent.stderr(), new RegExp(`TLS: serving certificate .*sha256 ${leaf.A.fingerprint}`));
      assert.equal(await served(agent.port), leaf.A.fingerprint);
      assert.equal((await early.connect()).host, 'h1');

      // Renewal: cert, then key, each replaced by rename (two steps, as certbot/lego do).
      install(certFile, leaf.B.cert, 0o644);
      install(keyFile, leaf.B.key);
      // The very next connection gets B: each connection checks the files first.
      assert.equal(await served(agent.port), leaf.B.fingerprint);
      await waitFor('the reload log line', () => agent.stderr().includes(`new connections get certificate`) && agent.stderr().includes(leaf.B.fingerprint));
      assert.match(agent.stderr(), new RegExp(`TLS certificate ${certFile} re-read: new connections get .*sha256 ${leaf.B.fingerprint}.*\\(was sha256 ${leaf.A.fingerprint}\\); open connections stay up`));
      // The connection made with A is still up and answers; a new client works too.
      assert.equal((await early.status()).host, 'h1');
      const late = client();
      assert.equal((await late.connect()).host, 'h1');
      late.close();

      const broken: { name: string; apply: () => void; log: RegExp }[] = [
        {
          name: 'garbage certificate',
          apply: () => install(certFile, 'this is not a certificate\n', 0o644),
          log: new RegExp(`TLS certificate ${certFile} does not hold a PEM certificate .*; write the certificate .* in PEM form there\\. Until it is fixed, new connections keep getting .*sha256 ${leaf.B.fingerprint}`),
        },
        {
          name: 'certificate C with the key of B',
          apply: () => install(certFile, leaf.C.cert, 0o644),
          log: new RegExp(`TLS key ${keyFile} does not belong to the certificate in ${certFile}; install the key the certificate was issued for`),
        },
        {
          name: 'key file gone',
          apply: () => rmSync(keyFile),
          log: new RegExp(`TLS key ${keyFile} cannot be read \\(ENOENT\\)`),
        },
        {
          name: 'key of C readable by others',
          apply: () => install(keyFile, leaf.C.key, 0o644),
          log: new RegExp(`TLS key ${keyFile} is readable or writable by others \\(mode 644\\); run: chmod o-rwx ${keyFile}`),
        },
      ];
      for (const b of broken) {
        b.apply();
        assert.equal(await served(agent.port), leaf.B.fingerprint, `${b.name}: B is still served`);
        await waitFor(`the error for ${b.name}`, () => b.log.test(agent.stderr()), 10_000);
        assert.equal(await served(agent.port), leaf.B.fingerprint, `${b.name}: B is still served after the error`);
        assert.equal((await early.status()).host, 'h1', `${b.name}: the open connection is still up`);
      }
      // The periodic check ran several times meanwhile: each broken state was logged once.
      await new Promise((r) => setTimeout(r, 2500));
      for (const b of broken) assert.equal(count(agent.stderr(), b.log), 1, `${b.name} logged once:\n${agent.stderr()}`);

      // The operator fixes the mode: C (cert and key now match) is served.
      chmodSync(keyFile, 0o600);
      assert.equal(await served(agent.port), leaf.C.fingerprint);
      await waitFor('the reload to C', () => agent.stderr().includes(`new connections get certificate`) && agent.stderr().includes(`sha256 ${leaf.C.fingerprint}, valid until`));
      const c = client();
      assert.equal((await c.connect()).host, 'h1');
      c.close();

      // Broken, then put back exactly as it was: the agent says it is fine again.
      install(certFile, 'garbage again\n', 0o644);
      await waitFor('the error for the second garbage certificate', () => count(agent.stderr(), /does not hold a PEM certificate/) === 2, 10_000);
      install(certFile, leaf.C.cert, 0o644);
      await waitFor('the recovery line', () => agent.stderr().includes(`load again: still serving certificate`), 10_000);
      assert.equal(await served(agent.port), leaf.C.fingerprint);
      assert.equal((await early.status()).host, 'h1', 'the connection made before every rotation is still up');
    } finally {
      early.close();
      await agent.stop();
    }
  });

  test('serve refuses to start with a pair that does not load, naming the file and the fix', async () => {
    const certFile = path.join(dir, 'start.crt');
    const keyFile = path.join(dir, 'start.key');
    install(certFile, leaf.A.cert, 0o644);
    install(keyFile, leaf.B.key);
    await assert.rejects(
      startAgent(bed, 'h1', { overrides: { tlsCert: certFile, tlsKey: keyFile } }),
      new RegExp(`nixfleet-agent: TLS key ${keyFile} does not belong to the certificate in ${certFile}`),
    );
    install(keyFile, leaf.A.key, 0o604);
    await assert.rejects(
      startAgent(bed, 'h1', { overrides: { tlsCert: certFile, tlsKey: keyFile } }),
      new RegExp(`nixfleet-agent: TLS key ${keyFile} is readable or writable by others \\(mode 604\\); run: chmod o-rwx ${keyFile}`),
    );
    // Group-readable, as ACME clients write keys for a group of services: accepted.
    chmodSync(keyFile, 0o640);
    const agent = await startAgent(bed, 'h1', { overrides: { tlsCert: certFile, tlsKey: keyFile } });
    try {
      assert.equal(await served(agent.port), leaf.A.fingerprint);
    } finally {
      await agent.stop();
    }
  });
});
