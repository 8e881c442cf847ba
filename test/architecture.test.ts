// The house rules a reviewer would otherwise check by hand: no module imports itself back through others (a cycle),
// and a machine imports `xstate`, other machines and `src/protocol`, nothing else (ARCHITECTURE.md: machines are pure).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOTS = ['src', 'actors', 'machines', 'inspect', 'bin'];
const SPECIFIER = /^\s*(?:import|export)\b[^'"]*?\bfrom\s+['"]([^'"]+)['"]/gm;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [normalize(path)] : [];
  });
}

/** Each file's imports: relative ones resolved to repository paths, packages as they are named. */
function importsOf(files: string[]): Map<string, string[]> {
  return new Map(
    files.map((file) => {
      const specifiers = [...readFileSync(file, 'utf8').matchAll(SPECIFIER)].map((match) => match[1]!);
      return [file, specifiers.map((s) => (s.startsWith('.') ? normalize(join(dirname(file), s)) : s))];
    }),
  );
}

/** The files that reach themselves again through their imports, each cycle once, as a path. */
function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const done = new Set<string>();
  const walk = (file: string, path: string[]): void => {
    const at = path.indexOf(file);
    if (at >= 0) return void found.push([...path.slice(at), file]);
    if (done.has(file) || !graph.has(file)) return;
    for (const next of graph.get(file)!) walk(next, [...path, file]);
    done.add(file);
  };
  for (const file of graph.keys()) walk(file, []);
  return found;
}

const graph = importsOf(ROOTS.flatMap(sources));

describe('the house', () => {
  it('has no import cycle', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('keeps machines pure: xstate, machines and src/protocol only', () => {
    const impure = [...graph]
      .filter(([file]) => file.startsWith('machines/'))
      .flatMap(([file, imports]) => imports.filter((target) => !(target === 'xstate' || target.startsWith('machines/') || target.startsWith('src/protocol/'))).map((target) => `${file} → ${target}`));
    expect(impure).toEqual([]);
  });

  it('sees the imports it judges (a check that finds none proves nothing)', () => {
    expect(graph.get(normalize('machines/wiring.ts'))).toContain('xstate');
    expect(graph.get(normalize('src/hub/auth.ts'))).toContain(normalize('src/hub/tokens.ts'));
  });
});
