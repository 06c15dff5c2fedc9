#!/usr/bin/env node
// Raises each workspace package's peer floor on the other workspace packages to the version they
// have now. Run by `pnpm version-packages` right after `changeset version`: a package's code uses
// what the workspace's core has (new exports, new options), so the range it publishes must not
// admit an older core. pnpm publishes `workspace:>=0.3.0 <1.0.0` as `>=0.3.0 <1.0.0` (the
// `workspace:` prefix dropped, the range kept), so the floor written here is what npm users get.
//
// Only ranges of the form `workspace:>=X.Y.Z <C` are touched (the form the repo uses for
// peers); the ceiling is kept. A floor is only raised, never lowered. A dependency whose version
// reached the ceiling (core 1.0.0 against `<1.0.0`) stops the script: whether the dependents
// still work with it is a decision, not a mechanical step.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const RANGE = /^workspace:>=(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?) (<\d+\.\d+\.\d+)$/;

/** The workspace's package directories, from pnpm-workspace.yaml's `dir/*` globs. */
export function workspaceDirs(root) {
  const yaml = readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8');
  const block = /^packages:\n((?:[ \t]+-.*\n?)+)/m.exec(yaml);
  if (!block) throw new Error('pnpm-workspace.yaml has no packages list');
  const dirs = [];
  for (const line of block[1].split('\n')) {
    const glob = /^\s+-\s+['"]?([^'"]+?)['"]?\s*$/.exec(line)?.[1];
    if (glob === undefined) continue;
    if (!glob.endsWith('/*') || glob.slice(0, -2).includes('*')) {
      throw new Error(`pnpm-workspace.yaml: only "dir/*" globs are supported, got "${glob}"`);
    }
    const parent = join(root, glob.slice(0, -2));
    for (const entry of readdirSync(parent, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      try {
        readFileSync(join(parent, entry.name, 'package.json'));
        dirs.push(join(parent, entry.name));
      } catch {
        // not a package
      }
    }
  }
  return dirs.sort();
}

/** Compares two x.y.z versions (a pre-release sorts before its release). */
export function compareVersions(a, b) {
  const [coreA, preA] = a.split('-', 2);
  const [coreB, preB] = b.split('-', 2);
  const x = coreA.split('.').map(Number);
  const y = coreB.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  if (preA === preB) return 0;
  if (preA === undefined) return 1;
  if (preB === undefined) return -1;
  return preA < preB ? -1 : 1;
}

/**
 * Raises the floors in place (unless `write` is false; nothing is written when any package is
 * refused) and returns what moved:
 * `[{ package, dependency, from, to }]`. The package.json text is edited, not re-serialized, so
 * its formatting stays as biome left it.
 */
export function raisePeerFloors(root, { write = true } = {}) {
  const packages = workspaceDirs(root).map((dir) => {
    const file = join(dir, 'package.json');
    const text = readFileSync(file, 'utf8');
    return { dir, file, text, json: JSON.parse(text) };
  });
  const versions = new Map(packages.map((p) => [p.json.name, p.json.version]));
  const changes = [];
  const edited = [];
  for (const p of packages) {
    let text = p.text;
    for (const [name, range] of Object.entries(p.json.peerDependencies ?? {})) {
      const version = versions.get(name);
      if (version === undefined || typeof range !== 'string' || !range.startsWith('workspace:')) continue;
      const match = RANGE.exec(range);
      if (!match) {
        throw new Error(
          `${p.json.name}: peer ${name} is "${range}"; expected "workspace:>=X.Y.Z <C" (the form whose floor this script raises)`,
        );
      }
      const [, floor, ceiling] = match;
      if (compareVersions(version, ceiling.slice(1)) >= 0) {
        throw new Error(
          `${p.json.name}: ${name} is now ${version}, at or past the peer range's ceiling ${ceiling}; raise the ceiling by hand once ${p.json.name} is known to work with it`,
        );
      }
      if (compareVersions(version, floor) <= 0) continue;
      const to = `workspace:>=${version} ${ceiling}`;
      text = replaceInPeerDependencies(text, name, range, to, p.file);
      changes.push({ package: p.json.name, dependency: name, from: range, to });
    }
    if (text !== p.text) edited.push([p.file, text]);
  }
  // Written only once every package passed: a refusal leaves the workspace as it was.
  if (write) for (const [file, text] of edited) writeFileSync(file, text);
  return changes;
}

/** Replaces `"name": "from"` inside the peerDependencies object only (devDependencies name the same packages). */
function replaceInPeerDependencies(text, name, from, to, file) {
  const start = text.indexOf('"peerDependencies"');
  const end = text.indexOf('}', start);
  const entry = `${JSON.stringify(name)}: ${JSON.stringify(from)}`;
  const at = text.indexOf(entry, start);
  if (start === -1 || at === -1 || at > end) {
    throw new Error(`${file}: cannot find ${entry} in peerDependencies (formatted differently?)`);
  }
  return `${text.slice(0, at)}${JSON.stringify(name)}: ${JSON.stringify(to)}${text.slice(at + entry.length)}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = join(fileURLToPath(import.meta.url), '..', '..');
  try {
    const changes = raisePeerFloors(root);
    for (const c of changes) {
      console.log(`${c.package}: peer ${c.dependency} ${c.from} -> ${c.to}`);
    }
    if (changes.length === 0) console.log('peer floors: all at the workspace versions already');
    else
      console.log(
        `peer floors raised in ${new Set(changes.map((c) => c.package)).size} packages (${relative(process.cwd(), root) || '.'})`,
      );
  } catch (error) {
    console.error(`raise-peer-floors: ${error.message}`);
    process.exit(1);
  }
}
