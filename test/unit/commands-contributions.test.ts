// package.json's command contributions (commands, menus, activation events) held against the
// one command registry (src/commands/registry.ts), so the two cannot drift. The registry and
// the command files import vscode, so they are read as source: each registered file's
// defineCommand gives its id, title and whether it changes hosts.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const commandsDir = path.join(root, 'src/commands');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

interface Registered {
  file: string;
  id: string;
  title: string;
  mutating: boolean;
}

function registry(): Registered[] {
  const text = readFileSync(path.join(commandsDir, 'registry.ts'), 'utf8');
  const imports = new Map([...text.matchAll(/^import (\w+) from '\.\/([\w/]+)';$/gm)].map((m) => [m[1]!, m[2]!]));
  const list = /export const COMMANDS[^=]*= \[([\s\S]*?)\];/.exec(text);
  assert.ok(list, 'registry.ts has export const COMMANDS = [...]');
  const names = list[1]!.replace(/\/\/.*$/gm, '').split(',').map((s) => s.trim()).filter(Boolean);
  return names.map((name) => {
    const file = imports.get(name);
    assert.ok(file, `COMMANDS lists ${name}, which registry.ts does not import from a command file`);
    const source = readFileSync(path.join(commandsDir, `${file}.ts`), 'utf8');
    const def = /defineCommand\(\{\s*id: '([^']+)',\s*title: '([^']+)',\s*mutating: (true|false),/.exec(source);
    assert.ok(def, `${file}.ts: export default defineCommand({ id, title, mutating, ... })`);
    return { file, id: def[1]!, title: def[2]!, mutating: def[3] === 'true' };
  });
}

test('every command file under src/commands/<area>/ is registered once, and nothing else is', () => {
  const files = readdirSync(commandsDir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) => readdirSync(path.join(commandsDir, d.name)).map((f) => `${d.name}/${f.replace(/\.ts$/, '')}`))
    .sort();
  const registered = registry().map((r) => r.file);
  assert.deepEqual([...registered].sort(), files);
  assert.equal(new Set(registered).size, registered.length);
});

test('contributes.commands: the registry\'s ids and titles, in the NixFleet category', () => {
  const reg = registry();
  const contributed = pkg.contributes.commands as Array<{ command: string; title: string; category?: string }>;
  assert.deepEqual(contributed.map((c) => c.command).sort(), reg.map((r) => r.id).sort());
  for (const r of reg) {
    const c = contributed.find((x) => x.command === r.id)!;
    assert.equal(c.title, r.title, `${r.id}: package.json title vs ${r.file}.ts title`);
    assert.equal(c.category, 'NixFleet', r.id);
  }
});

test('activationEvents: onCommand for every registered command and no other', () => {
  const onCommand = (pkg.activationEvents as string[]).filter((e) => e.startsWith('onCommand:')).map((e) => e.slice('onCommand:'.length));
  assert.deepEqual(onCommand.sort(), registry().map((r) => r.id).sort());
});

test('menus name only registered commands; every command has its palette entry; ops in the tree need a trusted workspace', () => {
  const reg = registry();
  const ids = new Set(reg.map((r) => r.id));
  const menus = pkg.contributes.menus as Record<string, Array<{ command: string; when?: string }>>;
  for (const [menu, items] of Object.entries(menus)) {
    for (const item of items) assert.ok(ids.has(item.command), `${menu} names ${item.command}, which is not in the command registry`);
  }
  assert.deepEqual(menus.commandPalette!.map((i) => i.command).sort(), [...ids].sort());
  for (const item of menus['view/item/context']!) {
    const r = reg.find((x) => x.id === item.command)!;
    // Host commands that change a host. (Add Host writes settings; run untrusted, it says why it refuses.)
    if (r.mutating && r.file.startsWith('host/')) assert.match(item.when ?? '', /isWorkspaceTrusted/, `${r.id} changes hosts: its tree menu entry must need a trusted workspace`);
  }
});
