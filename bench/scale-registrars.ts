// A share of the scale benchmark's registrars: many daemons (startDaemon, each with two demo providers) in one
// process, driven over IPC by bench/scale.ts. `start` launches them; `count` says how many have their task stream open.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AnyActorRef } from 'xstate';
import { parseConfig } from '../src/config/load.ts';
import { startDaemon, type Daemon } from '../src/daemon.ts';
import { silentLogger } from '../src/log.ts';

interface Start {
  cmd: 'start';
  hubUrl: string;
  token: string;
  from: number;
  count: number;
  timing: Record<string, number>;
}
type Command = Start | { cmd: 'count' } | { cmd: 'stop' };

const daemons: Daemon[] = [];
const open = new Set<number>();
const base = mkdtempSync(join(tmpdir(), 'llmr-scale-'));

async function start(command: Start): Promise<void> {
  const logger = silentLogger();
  await Promise.all(
    Array.from({ length: command.count }, async (_, k) => {
      const index = command.from + k;
      const provider = (suffix: string) => ({ name: `r${index}-${suffix}`, type: 'demo', model: 'demo', tokenDelayMs: 0, visibility: 'public' });
      const parsed = parseConfig({ hub: { url: command.hubUrl, token: command.token }, providers: [provider('a'), provider('b')], timing: command.timing, status: { enabled: false } }, {});
      if (!parsed.ok) throw new Error(parsed.problems.join('; '));
      const daemon = await startDaemon({ config: parsed.config, stateDir: join(base, String(index)), logger });
      daemons.push(daemon);
      const session = daemon.actor!.getSnapshot().children.session as AnyActorRef;
      session.subscribe((snapshot: { matches(value: unknown): boolean }) => {
        if (snapshot.matches({ connected: { streaming: 'open' } })) open.add(index);
        else open.delete(index);
      });
    }),
  );
}

process.on('message', (message: Command) => {
  if (message.cmd === 'start') void start(message).then(() => process.send?.({ started: daemons.length }));
  if (message.cmd === 'count') process.send?.({ open: open.size, total: daemons.length });
  if (message.cmd === 'stop') {
    for (const daemon of daemons) {
      daemon.drain();
      daemon.drain();
    }
    void Promise.all(daemons.map((d) => d.stopped)).finally(() => {
      rmSync(base, { recursive: true, force: true });
      process.exit(0);
    });
  }
});
process.send?.({ ready: true });
