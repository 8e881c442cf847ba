// What a bench reads of a Redis server through redis-cli: an INFO section as fields, and the commands it ran so far.
import { spawnSync } from 'node:child_process';

export function redisInfo(port: number, section: string): Map<string, string> {
  const text = spawnSync('redis-cli', ['-p', String(port), 'info', section], { encoding: 'utf8' }).stdout;
  return new Map(text.split(/\r?\n/).filter((line) => line.includes(':')).map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1)]));
}

/** Commands Redis has run (those a script calls included) and the µs it spent in them, `info` itself left out. */
export function redisWork(port: number): { commands: number; usec: number } {
  let commands = 0;
  let usec = 0;
  for (const [name, value] of redisInfo(port, 'commandstats')) {
    if (name === 'cmdstat_info') continue;
    commands += Number(/calls=(\d+)/.exec(value)?.[1] ?? 0);
    usec += Number(/usec=(\d+)/.exec(value)?.[1] ?? 0);
  }
  return { commands, usec };
}
