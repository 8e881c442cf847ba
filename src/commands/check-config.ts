// `llm-registrar check-config [FILE]`: every problem of a config file, named by its path.
import { defaultConfigPath, formatProblems, loadConfig } from '../config/load.ts';
import { urlCredentialWarnings } from '../config/url-credentials.ts';
import { redactUrl } from '../redact.ts';

export async function checkConfigCommand(file: string | undefined): Promise<number> {
  const result = await loadConfig(file ?? defaultConfigPath());
  if (!result.ok) {
    process.stderr.write(formatProblems(result) + '\n');
    return 1;
  }
  const published = result.config.providers.filter((p) => p.publish);
  process.stdout.write(`${result.path}: valid (${published.length} of ${result.config.providers.length} providers published, hub ${redactUrl(String(result.config.hub.url))})\n`);
  for (const warning of urlCredentialWarnings(result.config)) process.stderr.write(`warning: ${warning}\n`);
  return 0;
}
