// Reads a .cpuprofile (node --cpu-prof) and prints the functions with the most self time, and the files they are in:
// `node --import tsx bench/top-functions.ts FILE.cpuprofile [N]`.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { ROOT } from './support.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export function topFunctions(path: string, count = 25): { name: string; where: string; selfMs: number; share: number }[] {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byFunction = new Map<string, { name: string; where: string; us: number }>();
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const file = url.startsWith('file://') ? relative(ROOT, new URL(url).pathname) : url;
    const where = file ? `${file}:${lineNumber + 1}` : '';
    const key = `${functionName}@${where}`;
    const entry = byFunction.get(key) ?? { name: functionName || '(anonymous)', where, us: 0 };
    entry.us += us;
    byFunction.set(key, entry);
  }
  return [...byFunction.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, count)
    .map((e) => ({ name: e.name, where: e.where, selfMs: Math.round(e.us / 100) / 10, share: Math.round((e.us / total) * 1000) / 10 }));
}

/** Self time summed by file (node_modules by package), which shows which layer the time goes to. */
export function topFiles(path: string, count = 15): { file: string; selfMs: number; share: number }[] {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const byFile = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const { url, functionName } = byId.get(profile.samples[i])!.callFrame;
    let file = url.startsWith('file://') ? relative(ROOT, new URL(url).pathname) : url || `(${functionName})`;
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
    if (pkg) file = `npm:${pkg[1]}`;
    byFile.set(file, (byFile.get(file) ?? 0) + (profile.timeDeltas[i] ?? 0));
    total += profile.timeDeltas[i] ?? 0;
  }
  return [...byFile.entries()].sort((a, b) => b[1] - a[1]).slice(0, count).map(([file, us]) => ({ file, selfMs: Math.round(us / 100) / 10, share: Math.round((us / total) * 1000) / 10 }));
}

const [file, n] = process.argv.slice(2);
if (file && import.meta.url.endsWith(process.argv[1]?.split('/').pop() ?? '')) {
  console.table(topFunctions(file, Number(n ?? 25)));
  console.table(topFiles(file));
}
