// The build (tsup/esbuild) inlines the manifest, so the published bin reads nothing at run time.
import manifest from '../package.json' with { type: 'json' };

/**
 * This package's version, for `evco --version`. Given to yargs explicitly: left to itself, yargs
 * reads the package.json found above its own node_modules directory, which in a project that
 * installed @evco/cli is the project's (its version, or "unknown").
 */
export const CLI_VERSION: string = manifest.version;
