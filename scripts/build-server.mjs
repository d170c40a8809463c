// Bundles the server and its CLI (apps/server/src/cli.ts and the workspace packages it
// imports) into apps/server/dist, so that `npm start` and `npm run clawlink` run plain
// JavaScript instead of transpiling every TypeScript file at each call.
//
// Third-party packages stay outside the bundle. Each one is declared by the workspace
// package that imports it, so pnpm links it under that package's node_modules; the
// bundle lives in apps/server/dist, from where Node would not find the others. So
// apps/server/dist/node_modules gets a link to every external package the bundle
// imports, pointing where its importer resolves it.
import {
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const SERVER_DIST = join(root, 'apps', 'server', 'dist');
const STAMP = join(SERVER_DIST, 'build.json');

const builtins = new Set(builtinModules);

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`. */
function packageName(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** The directory `name` resolves to for a file in `fromDir`, by Node's node_modules walk. */
function findPackageDir(name, fromDir) {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
    if (dirname(dir) === dir) return null;
  }
}

function externalsPlugin(links) {
  return {
    name: 'link-externals',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        if (args.path.startsWith('node:') || builtins.has(args.path)) return { external: true };
        const name = packageName(args.path);
        // Workspace packages are TypeScript sources: they go into the bundle.
        if (name.startsWith('@ccl/')) return undefined;
        const dir = findPackageDir(name, args.resolveDir);
        if (!dir) return { errors: [{ text: `cannot find package '${name}' from ${args.resolveDir}` }] };
        const seen = links.get(name);
        if (seen && seen !== dir) {
          return {
            errors: [{ text: `two versions of '${name}' are imported (${seen} and ${dir}); align them` }],
          };
        }
        links.set(name, dir);
        return { external: true };
      });
    },
  };
}

/** Builds the bundle; `metafile.inputs` names every source it read, for the staleness check. */
export async function buildServer() {
  const links = new Map();
  rmSync(SERVER_DIST, { recursive: true, force: true });
  const result = await build({
    entryPoints: { cli: join(root, 'apps', 'server', 'src', 'cli.ts') },
    outdir: SERVER_DIST,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'linked',
    outExtension: { '.js': '.mjs' },
    // Chunks beside the entry: sources find files relative to their own depth (`../../../prisma`).
    chunkNames: '[name]-[hash]',
    metafile: true,
    logLevel: 'error',
    plugins: [externalsPlugin(links)],
  });
  const modules = join(SERVER_DIST, 'node_modules');
  for (const [name, dir] of links) {
    const link = join(modules, name);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(relative(dirname(link), dir), link, 'dir');
  }
  // The lockfile too: a reinstall may move the packages the links point at.
  const inputs = [
    ...Object.keys(result.metafile.inputs).map((path) => join(root, path)),
    join(root, 'pnpm-lock.yaml'),
  ];
  writeFileSync(STAMP, JSON.stringify({ root, inputs }, null, 1));
  return inputs.length;
}

/** The bundle's entry when it is newer than every source it was built from (and built here), else null. */
export function freshServerEntry(mtime) {
  const entry = join(SERVER_DIST, 'cli.mjs');
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(STAMP, 'utf8'));
  } catch {
    return null;
  }
  if (stamp.root !== root) return null;
  const built = mtime(STAMP);
  // A new file a source imports shows up as a changed importer, so the recorded inputs suffice.
  if (stamp.inputs.some((path) => !existsSync(path) || mtime(path) > built)) return null;
  return existsSync(entry) ? entry : null;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const count = await buildServer();
  console.error(`built ${relative(root, SERVER_DIST)} from ${count} sources`);
}
