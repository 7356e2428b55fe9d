// tls:// broker URLs require TLS on both sides: against a real nats-server with a
// certificate from a test CA (made by openssl), the agent (CA via NODE_EXTRA_CA_CERTS) and
// a controller (CA given as PEM) connect and the host shows online; pointed at a server
// without TLS, or without the CA, neither talks in clear or to an unverified server.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { BrokerClient } from '../../src/broker/client';
import { FleetStatusWatcher } from '../../src/broker/fleetStatus';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { waitFor } from './agent-harness';
import { brokerConfig, startBrokerAgent, startNats, type BrokerSetup, type NatsCluster } from './broker-harness';

let bed: TestBed;
let work: string;
let setup: BrokerSetup;
let tlsNats: NatsCluster;
let plainNats: NatsCluster;
let ca: string;

const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });

before(async () => {
  bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
  work = mkdtempSync(path.join(tmpdir(), 'nixfleet-broker-tls-'));
  const f = (n: string) => path.join(work, n);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=NixFleet broker test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
  // The NATS client sends no server name for an IP address, so Node checks the certificate
  // against "localhost" then: the test certificate names both. Real brokers use DNS names.
  writeFileSync(f('leaf.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  openssl(['req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1']);
  openssl(['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', f('leaf.ext'), '-out', f('server.crt')]);
  ca = readFileSync(f('ca.crt'), 'utf8');
  setup = brokerConfig(path.join(work, 'broker'), ['h1']);
  tlsNats = await startNats(setup, 1, { tls: { cert_file: f('server.crt'), key_file: f('server.key') } });
  plainNats = await startNats(brokerConfig(path.join(work, 'plain'), ['h1']));
});
after(async () => {
  await tlsNats?.stop();
  await plainNats?.stop();
  await bed?.cleanup();
  rmSync(work, { recursive: true, force: true });
});

const tlsUrl = (n: NatsCluster) => n.urls.map((u) => u.replace('nats://', 'tls://'));

test('tls:// refuses a server without TLS and one it cannot verify, and works with the CA', async () => {
  const operatorCreds = readFileSync(setup.operatorCredentials(), 'utf8');
  await assert.rejects(BrokerClient.connect({ servers: tlsUrl(plainNats), credentials: operatorCreds }), /server does not support 'tls'/);
  await assert.rejects(BrokerClient.connect({ servers: tlsUrl(tlsNats), credentials: operatorCreds }), /certificate/i);
  const noTls = await startBrokerAgent(bed, 'h1', tlsUrl(plainNats), setup.hostCredentials('h1'));
  try {
    await waitFor("the agent's refusal of a server without TLS", () => /server does not support 'tls'/.test(noTls.stderr()));
    assert.doesNotMatch(noTls.stderr(), /connected to broker/);
  } finally {
    await noTls.stop();
  }
  const op = await BrokerClient.connect({ servers: tlsUrl(tlsNats), credentials: operatorCreds, ca, ensure: { replicas: 1 } });
  const agent = await startBrokerAgent(bed, 'h1', tlsUrl(tlsNats), setup.hostCredentials('h1'), { env: { NODE_EXTRA_CA_CERTS: path.join(work, 'ca.crt') } });
  const fleet = await FleetStatusWatcher.start(op.js);
  try {
    await waitFor('h1 online over TLS', () => fleet.get('h1')?.online);
  } finally {
    fleet.close();
    await agent.stop();
    await op.close();
  }
});
