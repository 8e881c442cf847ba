// `llm-registrar check-config [FILE | --config FILE]`: every problem of a config file, named by its path.
import { defaultConfigPath, formatProblems, loadConfig } from '../config/load.ts';
import { wireName } from '../config/schema.ts';
import { UsageError } from './usage.ts';
import { urlCredentialWarnings } from '../config/url-credentials.ts';
import { redactUrl } from '../redact.ts';

export async function checkConfigCommand(options: { file?: string; config?: string; json?: boolean }): Promise<number> {
  if (options.file !== undefined && options.config !== undefined && options.file !== options.config) {
    throw new UsageError(`two files: '${options.file}' and --config '${options.config}': name one`);
  }
  const result = await loadConfig(options.file ?? options.config ?? defaultConfigPath());
  if (options.json) {
    const published = result.ok ? result.config.providers.filter((p) => p.publish).map((p) => ({ name: wireName(p), type: p.type, visibility: p.visibility })) : [];
    const body = result.ok
      ? { path: result.path, valid: true, notes: result.notes, hub: result.config.hub.url, published }
      : { path: result.path, valid: false, problems: result.problems };
    process.stdout.write(JSON.stringify(body, null, 2) + '\n');
    return result.ok ? 0 : 1;
  }
  if (!result.ok) {
    process.stderr.write(formatProblems(result) + '\n');
    return 1;
  }
  for (const note of result.notes) process.stderr.write(`note: ${note}\n`);
  const published = result.config.providers.filter((p) => p.publish);
  process.stdout.write(`${result.path}: valid (${published.length} of ${result.config.providers.length} providers published, hub ${redactUrl(String(result.config.hub.url))})\n`);
  for (const warning of urlCredentialWarnings(result.config)) process.stderr.write(`warning: ${warning}\n`);
  return 0;
}
