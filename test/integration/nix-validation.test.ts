// Hostile parameters never reach a command line, and a corrupt state file is reported by
// name without anything running.
import assert from 'node:assert/strict';
import { existsSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { listGenerations } from '../../agent/nix/generations';
import { executeOp, registry } from '../../agent/ops/registry';
import { OpError } from '../../agent/ops/types';
import { StateError } from '../../agent/state/metadata';
import type { OpKind } from '../../protocol';
import { createTestBed, testOpContext, type TestBed } from '../fixtures/testbed';

describe('parameter validation and state files', () => {
  let bed: TestBed;
  let sentinel: string;
  before(async () => {
    bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    sentinel = path.join(bed.root, 'pwned');
    const { ctx } = await testOpContext(bed, 'h1');
    await executeOp('switch', ctx, {});
  });
  after(() => bed.cleanup());

  const hostile = () => [
    `abc1234; touch ${sentinel}`,
    `$(touch ${sentinel})`,
    `\`touch ${sentinel}\``,
    'abc1234 && true',
    'abc1234|cat',
    'abc1234\nrm -rf /',
    '--upload-pack=touch',
    '-rf',
    '../../etc',
    'main..evil',
    "a'b",
    'a"b',
    'x>y',
    '',
  ];
  const stringParams: [OpKind, string][] = [
    ['switch', 'rev'],
    ['force-rebuild', 'rev'],
    ['pull', 'ref'],
    ['pull', 'rev'],
    ['build', 'rev'],
    ['self-update', 'input'],
  ];

  for (const [kind, key] of stringParams) {
    test(`${kind}: shell metacharacters in "${key}" are refused before anything runs`, async () => {
      const link = readlinkSync(bed.host('h1').profile);
      const activations = bed.activations('h1').length;
      for (const value of hostile()) {
        const { ctx, commands } = await testOpContext(bed, 'h1', { kind });
        await assert.rejects(executeOp(kind, ctx, { [key]: value }), (err: unknown) => {
          assert.ok(err instanceof OpError, String(err));
          assert.match(err.message, new RegExp(`^host h1: invalid parameters for ${kind}: ${key}: .*; nothing was run$`));
          return true;
        });
        assert.deepEqual(commands, [], `${kind} ${key}=${JSON.stringify(value)} ran something`);
      }
      assert.equal(existsSync(sentinel), false);
      assert.equal(readlinkSync(bed.host('h1').profile), link);
      assert.equal(bed.activations('h1').length, activations);
    });
  }

  test('unknown parameters and wrong types are refused by name', async () => {
    for (const kind of Object.keys(registry) as OpKind[]) {
      const { ctx, commands } = await testOpContext(bed, 'h1', { kind });
      await assert.rejects(executeOp(kind, ctx, { evil: '$(id)' }), /^OpError: host h1: invalid parameters for .*: unknown parameter\(s\) "evil"; nothing was run$/);
      assert.deepEqual(commands, []);
    }
    const { ctx } = await testOpContext(bed, 'h1', { kind: 'force-rebuild' });
    await assert.rejects(executeOp('force-rebuild', ctx, { fromSource: 'yes' }), /invalid parameters for force-rebuild: fromSource: /);
  });

  test('a corrupt state file: listGenerations names it, mutating ops refuse before running anything', async () => {
    const h = bed.host('h1');
    const file = path.join(h.stateDir, 'generations.json');
    writeFileSync(file, '{"version":1,"revisions":{"x":{"revision":5}}');
    const { ctx, commands } = await testOpContext(bed, 'h1');
    await assert.rejects(listGenerations(ctx.config), (err: unknown) => {
      assert.ok(err instanceof StateError);
      assert.ok(err.message.includes(file));
      assert.match(err.message, /is corrupt \(not JSON: .*\); move it aside/);
      return true;
    });
    writeFileSync(file, '{"version":1,"revisions":{"x":{"revision":5}},"checks":{}}');
    await assert.rejects(listGenerations(ctx.config), /generations\.json is corrupt \(revisions\.x\.revision: /);
    for (const kind of ['switch', 'rollback', 'test', 'force-rebuild'] as const) {
      await assert.rejects(executeOp(kind, ctx, {}), new RegExp(`^OpError: host h1: the agent's state file ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is corrupt`));
    }
    assert.deepEqual(commands, []);
  });
});
