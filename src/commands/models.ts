// `llm-registrar models` (alias `ls`): what the hub of the config offers its token, as `ollama ls` shows a machine's.
import { defaultConfigPath, formatProblems, loadConfig } from '../config/load.ts';
import { colours } from './palette.ts';

interface LlmRow {
  name: string;
  status: string;
  owner: string;
  visibility: string;
  poolName: string | null;
  model: string;
}
interface AgentRow {
  name: string;
  llmName: string;
  owner: string;
  visibility: string;
}

const TIMEOUT_MS = 5_000;

export function table(header: string[], rows: string[][], paint: (column: number, cell: string) => string = (_c, cell) => cell): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const line = (cells: string[], painted: boolean) =>
    cells
      .map((cell, column) => {
        const padded = column === cells.length - 1 ? cell : cell.padEnd(widths[column]);
        return painted ? paint(column, cell) + padded.slice(cell.length) : padded;
      })
      .join('  ');
  return [line(header, false), ...rows.map((row) => line(row, true))].join('\n') + '\n';
}

export async function modelsCommand(options: { config?: string; json: boolean }): Promise<number> {
  const loaded = await loadConfig(options.config ?? defaultConfigPath());
  if (!loaded.ok) {
    process.stderr.write(`${formatProblems(loaded)}\nllm-registrar models: the hub and token come from this config: fix it first\n`);
    return 1;
  }
  const hub = loaded.config.hub.url.replace(/\/+$/, '');
  const get = async <T>(path: string): Promise<T> => {
    const response = await fetch(`${hub}${path}`, { headers: { authorization: `Bearer ${loaded.config.hub.token}`, accept: 'application/json' }, signal: AbortSignal.timeout(TIMEOUT_MS) });
    if (response.status === 401) throw new Error(`the hub ${hub} refused the token (401): check hub.token in ${loaded.path} (or LLM_REGISTRAR_HUB_TOKEN)`);
    if (!response.ok) throw new Error(`the hub ${hub} answered ${response.status} to ${path}`);
    return (await response.json()) as T;
  };
  let llms: LlmRow[];
  let agents: AgentRow[];
  try {
    [llms, agents] = await Promise.all([get<LlmRow[]>('/api/v1/llms'), get<AgentRow[]>('/api/v1/agents')]);
  } catch (error) {
    const message = (error as Error).name === 'TimeoutError' ? `the hub ${hub} did not answer within ${TIMEOUT_MS / 1000} s` : (error as Error).message;
    const why = /refused the token|answered/.test(message) ? message : `hub ${hub} unreachable (${(error as { cause?: { code?: string } }).cause?.code ?? message}): is it running? check hub.url in ${loaded.path}`;
    process.stderr.write(`llm-registrar models: ${why}\n`);
    return 1;
  }
  if (options.json) {
    process.stdout.write(JSON.stringify({ hub, llms, agents }, null, 2) + '\n');
    return 0;
  }
  if (llms.length === 0 && agents.length === 0) {
    process.stdout.write(`the hub ${hub} offers this token nothing yet: rows appear once a registrar publishes them (\`llm-registrar start\`)\n`);
    return 0;
  }
  const p = colours(process.stdout);
  const tone = (status: string) => (status === 'active' ? p.ok : status === 'inactive' ? p.bad : p.dim);
  process.stdout.write(
    table(
      ['NAME', 'STATUS', 'OWNER', 'VISIBILITY', 'POOL', 'MODEL'],
      llms.map((row) => [row.name, row.status, row.owner, row.visibility, row.poolName ?? '-', row.model]),
      (column, cell) => (column === 1 ? tone(cell)(cell) : cell),
    ),
  );
  if (agents.length > 0) {
    process.stdout.write('\n' + table(['AGENT', 'LLM', 'OWNER', 'VISIBILITY'], agents.map((agent) => [agent.name, agent.llmName, agent.owner, agent.visibility])));
  }
  return 0;
}
