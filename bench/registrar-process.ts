// `llm-registrar start` exactly as the CLI runs it (its own startCommand), plus one hook for the memory benchmark:
// on the IPC message 'measure' it collects garbage (node --expose-gc) and answers process.memoryUsage().
// `node --expose-gc --import tsx bench/registrar-process.ts CONFIG STATE_DIR` (spawned with an IPC channel).
import { startCommand } from '../src/commands/start.ts';

const [config, stateDir] = process.argv.slice(2);
const collect = (globalThis as { gc?: () => void }).gc;

process.on('message', (message) => {
  if (message !== 'measure') return;
  // Twice: the first pass runs finalizers that free more on the second.
  collect?.();
  collect?.();
  process.send?.({ ...process.memoryUsage(), gcRan: collect !== undefined });
});

const code = await startCommand({ config, stateDir });
process.exit(code);
