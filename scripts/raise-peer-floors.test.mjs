// node --test scripts/ (pnpm test:scripts): raise-peer-floors.mjs on a temporary workspace.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { compareVersions, raisePeerFloors } from './raise-peer-floors.mjs';

const roots = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** A workspace in a temporary directory: `{ 'packages/core': packageJson, … }`, written as biome formats. */
function workspace(packages) {
  const root = mkdtempSync(join(tmpdir(), 'evco-peer-floors-'));
  roots.push(root);
  writeFileSync(
    join(root, 'pnpm-workspace.yaml'),
    "packages:\n  - packages/*\n  - 'apps/*'\n\nallowBuilds:\n  esbuild: true\n",
  );
  mkdirSync(join(root, 'apps'));
  for (const [dir, json] of Object.entries(packages)) {
    mkdirSync(join(root, dir), { recursive: true });
    writeFileSync(join(root, dir, 'package.json'), `${JSON.stringify(json, null, 2)}\n`);
  }
  return root;
}

const read = (root, dir) => readFileSync(join(root, dir, 'package.json'), 'utf8');
const PEER = 'workspace:>=0.1.0 <1.0.0';

describe('raise-peer-floors', () => {
  it("raises every @evco peer floor to that package's version, keeping the ceiling, the dev ranges and the formatting", () => {
    const root = workspace({
      'packages/core': { name: '@evco/core', version: '0.3.0' },
      'packages/store-sqlite': {
        name: '@evco/store-sqlite',
        version: '0.2.1',
        peerDependencies: { '@evco/core': PEER },
        devDependencies: { '@evco/core': 'workspace:^' },
      },
      'packages/cli': {
        name: '@evco/cli',
        version: '0.1.0',
        peerDependencies: { '@evco/core': PEER, '@evco/store-sqlite': PEER, yargs: '>=17' },
        peerDependenciesMeta: { '@evco/store-sqlite': { optional: true } },
        devDependencies: { '@evco/core': 'workspace:^', '@evco/store-sqlite': 'workspace:^' },
      },
      'apps/demo': {
        name: '@evco/demo',
        version: '0.0.0',
        private: true,
        dependencies: { '@evco/core': 'workspace:^' },
      },
    });
    const demoBefore = read(root, 'apps/demo');
    const changes = raisePeerFloors(root);
    assert.deepEqual(changes, [
      { package: '@evco/cli', dependency: '@evco/core', from: PEER, to: 'workspace:>=0.3.0 <1.0.0' },
      { package: '@evco/cli', dependency: '@evco/store-sqlite', from: PEER, to: 'workspace:>=0.2.1 <1.0.0' },
      { package: '@evco/store-sqlite', dependency: '@evco/core', from: PEER, to: 'workspace:>=0.3.0 <1.0.0' },
    ]);
    const cli = JSON.parse(read(root, 'packages/cli'));
    assert.deepEqual(cli.peerDependencies, {
      '@evco/core': 'workspace:>=0.3.0 <1.0.0',
      '@evco/store-sqlite': 'workspace:>=0.2.1 <1.0.0',
      yargs: '>=17',
    });
    assert.deepEqual(cli.devDependencies, {
      '@evco/core': 'workspace:^',
      '@evco/store-sqlite': 'workspace:^',
    });
    // Only the two ranges changed: same text otherwise, biome's formatting kept.
    assert.equal(
      read(root, 'packages/cli'),
      `${JSON.stringify({ ...cli, peerDependencies: cli.peerDependencies }, null, 2)}\n`,
    );
    assert.equal(read(root, 'apps/demo'), demoBefore);
    // Run again (a second `pnpm version-packages` with nothing new): nothing to do.
    assert.deepEqual(raisePeerFloors(root), []);
  });

  it('never lowers a floor, and a dry run writes nothing', () => {
    const root = workspace({
      'packages/core': { name: '@evco/core', version: '0.2.0' },
      'packages/a': {
        name: '@evco/a',
        version: '0.1.0',
        peerDependencies: { '@evco/core': 'workspace:>=0.2.0 <1.0.0' },
      },
      'packages/b': {
        name: '@evco/b',
        version: '0.1.0',
        peerDependencies: { '@evco/core': 'workspace:>=0.2.1 <1.0.0' },
      },
      'packages/c': { name: '@evco/c', version: '0.1.0', peerDependencies: { '@evco/core': PEER } },
    });
    const before = read(root, 'packages/c');
    assert.deepEqual(raisePeerFloors(root, { write: false }), [
      { package: '@evco/c', dependency: '@evco/core', from: PEER, to: 'workspace:>=0.2.0 <1.0.0' },
    ]);
    assert.equal(read(root, 'packages/c'), before);
  });

  it('stops, writing nothing, at a dependency that reached the ceiling or a peer range of another form', () => {
    const major = workspace({
      'packages/core': { name: '@evco/core', version: '1.0.0' },
      'packages/a': { name: '@evco/a', version: '0.1.0', peerDependencies: { '@evco/core': PEER } },
    });
    const before = read(major, 'packages/a');
    assert.throws(
      () => raisePeerFloors(major),
      /@evco\/a: @evco\/core is now 1\.0\.0, at or past the peer range's ceiling <1\.0\.0; raise the ceiling by hand/,
    );
    assert.equal(read(major, 'packages/a'), before);
    const caret = workspace({
      'packages/core': { name: '@evco/core', version: '0.2.0' },
      'packages/a': { name: '@evco/a', version: '0.1.0', peerDependencies: { '@evco/core': 'workspace:^' } },
    });
    assert.throws(
      () => raisePeerFloors(caret),
      /@evco\/a: peer @evco\/core is "workspace:\^"; expected "workspace:>=X\.Y\.Z <C"/,
    );
  });

  it('orders versions as semver does for these ranges', () => {
    assert.equal(compareVersions('0.10.0', '0.9.9'), 1);
    assert.equal(compareVersions('1.0.0', '1.0.0'), 0);
    assert.equal(compareVersions('0.2.0-next.0', '0.2.0'), -1);
    assert.equal(compareVersions('0.2.0', '0.1.9'), 1);
  });

  it("the repo's changesets config turns on onlyUpdatePeerDependentsWhenOutOfRange under the key @changesets/config reads", () => {
    // Under another key (it was `..._WILL_CHANGE_IN_PATCH_RELEASE`) the option is ignored: a core
    // minor release then bumps every package with a core peer to a major (1.0.0) and rewrites the
    // peer ranges to `workspace:>=0.2.0` without the ceiling, which this script refuses.
    const root = join(dirname(fileURLToPath(import.meta.url)), '..');
    const config = JSON.parse(readFileSync(join(root, '.changeset', 'config.json'), 'utf8'));
    assert.equal(
      config.___experimentalUnsafeOptions_WILL_CHANGE_IN_PATCH?.onlyUpdatePeerDependentsWhenOutOfRange,
      true,
    );
    assert.equal(config.___experimentalUnsafeOptions_WILL_CHANGE_IN_PATCH_RELEASE, undefined);
  });
});
