// `llm-registrar version` / `--version`: this package's version, read from its package.json.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** src/commands/ and the bundle in dist/ both sit below the package root: look upwards for the first package.json. */
export function packageVersion(): string {
  for (const up of ['..', '../..']) {
    try {
      const json = JSON.parse(readFileSync(join(import.meta.dirname, up, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (json.name === 'llm-registrar' && json.version) return json.version;
    } catch {
      // Not there: the next one up.
    }
  }
  return 'unknown';
}

export async function versionCommand(options: { json: boolean }): Promise<number> {
  const version = packageVersion();
  process.stdout.write(options.json ? JSON.stringify({ version, node: process.versions.node }) + '\n' : `llm-registrar ${version} (node ${process.versions.node})\n`);
  return 0;
}
