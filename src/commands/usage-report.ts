// `llm-registrar usage`: calls and tokens per model or user from the hub's usage ledger (GET /api/v1/usage): a
// token sees its own calls, an admin's everyone's. (The file is not `usage.ts`: that one holds the usage errors.)
import { defaultConfigPath, formatProblems, loadConfig } from '../config/load.ts';
import { table } from './models.ts';
import { UsageError } from './usage.ts';

interface UsageRow {
  key: string;
  calls: number;
  tokensIn: number;
  tokensOut: number;
  errors: number;
}
interface UsageAnswer {
  since: string;
  by: 'user' | 'model';
  scope: string;
  rows: UsageRow[];
}

const TIMEOUT_MS = 5_000;

export async function usageCommand(options: { config?: string; by?: string; since?: string; json: boolean }): Promise<number> {
  const by = options.by ?? 'model';
  if (by !== 'user' && by !== 'model') throw new UsageError(`--by must be 'user' or 'model', not '${by}'`);
  const loaded = await loadConfig(options.config ?? defaultConfigPath());
  if (!loaded.ok) {
    process.stderr.write(`${formatProblems(loaded)}\nllm-registrar usage: the hub and token come from this config: fix it first\n`);
    return 1;
  }
  const hub = loaded.config.hub.url.replace(/\/+$/, '');
  const query = new URLSearchParams({ by, since: options.since ?? '24h' });
  let response: Response;
  try {
    response = await fetch(`${hub}/api/v1/usage?${query}`, { headers: { authorization: `Bearer ${loaded.config.hub.token}`, accept: 'application/json' }, signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (error) {
    const why = (error as Error).name === 'TimeoutError' ? `did not answer within ${TIMEOUT_MS / 1000} s` : `unreachable (${(error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message})`;
    process.stderr.write(`llm-registrar usage: hub ${hub} ${why}: is it running? check hub.url in ${loaded.path}\n`);
    return 1;
  }
  if (response.status === 400) {
    const message = ((await response.json().catch(() => ({}))) as { error?: { message?: string } }).error?.message ?? 'bad request';
    throw new UsageError(`--${message}`);
  }
  if (response.status === 401) {
    process.stderr.write(`llm-registrar usage: the hub ${hub} refused the token (401): check hub.token in ${loaded.path} (or LLM_REGISTRAR_HUB_TOKEN)\n`);
    return 1;
  }
  if (!response.ok) {
    process.stderr.write(`llm-registrar usage: the hub ${hub} answered ${response.status} to /api/v1/usage${response.status === 404 ? ' (a hub older than the usage ledger)' : ''}\n`);
    return 1;
  }
  const answer = (await response.json()) as UsageAnswer;
  if (options.json) {
    process.stdout.write(JSON.stringify({ hub, ...answer }, null, 2) + '\n');
    return 0;
  }
  const whose = answer.scope === 'everyone' ? 'everyone' : `${answer.scope} (your token)`;
  process.stdout.write(`calls since ${answer.since} on ${hub}, ${whose}\n`);
  if (answer.rows.length === 0) {
    process.stdout.write('no calls in that time\n');
    return 0;
  }
  const total = answer.rows.reduce((sum, row) => ({ calls: sum.calls + row.calls, errors: sum.errors + row.errors, tokensIn: sum.tokensIn + row.tokensIn, tokensOut: sum.tokensOut + row.tokensOut }), { calls: 0, errors: 0, tokensIn: 0, tokensOut: 0 });
  const cells = (key: string, row: Omit<UsageRow, 'key'>) => [key, String(row.calls), String(row.errors), String(row.tokensIn), String(row.tokensOut)];
  process.stdout.write(table([by === 'user' ? 'USER' : 'MODEL', 'CALLS', 'ERRORS', 'TOKENS IN', 'TOKENS OUT'], [...answer.rows.map((row) => cells(row.key, row)), cells('total', total)]));
  return 0;
}
