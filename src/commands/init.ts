// `llm-registrar init`: a starter config from the model servers running here, beside the JSON Schema that lets an
// editor check and complete it. JSON has no comments: the explanations are printed, and the schema describes every key.
import { access, mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { configJsonSchema } from '../config/json-schema.ts';
import { defaultConfigPath, parseConfig, TOKEN_PLACEHOLDER } from '../config/load.ts';
import { EVERY_MODEL } from '../config/schema.ts';
import { detectLocalServers, type DetectedServer } from '../detect.ts';
import { cleanModelName } from '../model-names.ts';
import { redactUrl } from '../redact.ts';

export const SCHEMA_FILE = 'config.schema.json';
export { TOKEN_PLACEHOLDER };
const DEFAULT_HUB_URL = 'http://127.0.0.1:4848';

interface StarterProvider {
  name: string;
  type: 'openai' | 'ollama' | 'demo';
  baseUrl?: string;
  model: string;
  publish: boolean;
  visibility: 'private';
  maxConcurrency: number;
}

/**
 * Every model of every server is published: a server with one model as that model under its clean name (a GGUF path
 * by its base name); a server with several, or one still loading, with `"model": "*"`, so rows follow its models.
 */
export function starterProviders(servers: DetectedServer[]): StarterProvider[] {
  if (servers.length === 0) return [{ name: 'demo', type: 'demo', model: 'demo', publish: true, visibility: 'private', maxConcurrency: 4 }];
  const taken = new Set<string>();
  const unique = (name: string) => {
    let candidate = name;
    for (let n = 2; taken.has(candidate); n++) candidate = `${name}-${n}`;
    taken.add(candidate);
    return candidate;
  };
  return servers.map((server) => {
    const single = server.models.length === 1 && !server.loading;
    return {
      name: unique(single ? cleanModelName(server.models[0]) || server.kind : server.kind),
      type: server.type,
      baseUrl: server.baseUrl,
      model: single ? server.models[0] : EVERY_MODEL,
      publish: true,
      visibility: 'private' as const,
      maxConcurrency: 4,
    };
  });
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

export async function initCommand(options: { file?: string; force?: boolean; hub?: string }): Promise<number> {
  const path = options.file ?? defaultConfigPath();
  if ((await exists(path)) && !options.force) {
    process.stderr.write(`llm-registrar init: ${path} already exists: check it with \`llm-registrar check-config ${path}\`, or pass --force to replace it (the old file is kept as ${path}.bak)\n`);
    return 1;
  }
  const hubUrl = options.hub ?? process.env.LLM_REGISTRAR_HUB_URL ?? DEFAULT_HUB_URL;
  const tokenFromEnv = process.env.LLM_REGISTRAR_HUB_TOKEN;
  const servers = await detectLocalServers();
  const providers = starterProviders(servers);
  const config = {
    $schema: `./${SCHEMA_FILE}`,
    hub: { url: hubUrl, token: tokenFromEnv || TOKEN_PLACEHOLDER },
    providers,
    agents: [],
  };
  const checked = parseConfig(config, {});
  if (!checked.ok) {
    process.stderr.write(`llm-registrar init: the starter config would not be valid:\n  ${checked.problems.join('\n  ')}\n(pass --hub with an http:// or https:// URL)\n`);
    return 1;
  }

  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  if (await exists(path)) await rename(path, `${path}.bak`);
  // The file holds the hub token: readable by its owner alone.
  await writeFile(path, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
  await writeFile(join(dirname(path), SCHEMA_FILE), JSON.stringify(configJsonSchema(), null, 2) + '\n');
  process.stdout.write(explain(path, hubUrl, tokenFromEnv !== undefined && tokenFromEnv !== '', servers, providers));
  return 0;
}

function explain(path: string, hubUrl: string, tokenFromEnv: boolean, servers: DetectedServer[], providers: StarterProvider[]): string {
  const found =
    servers.length === 0
      ? ['no model server answered on the usual ports (Ollama 11434, vLLM 8000, llama.cpp 8080/9931, LM Studio 1234):', 'the built-in "demo" model stands in; replace it with your server']
      : servers.map((server) =>
          server.loading
            ? `${server.kind} at ${server.baseUrl}: loading its model (its models are published once it lists them)`
            : `${server.kind} at ${server.baseUrl}: ${server.models.length} model${server.models.length === 1 ? '' : 's'}`,
        );
  const published = providers.map((p) => (p.model === EVERY_MODEL ? `"${p.name}" (every model it lists: "model": "*")` : `"${p.name}"`));
  const lines = [
    `wrote ${path} (mode 0600) and ${SCHEMA_FILE} beside it, which editors use to check and complete the file`,
    '',
    `  hub.url      ${redactUrl(hubUrl)}: the hub to publish on (LLM_REGISTRAR_HUB_URL overrides it)`,
    tokenFromEnv
      ? '  hub.token    taken from LLM_REGISTRAR_HUB_TOKEN'
      : `  hub.token    "${TOKEN_PLACEHOLDER}": replace it with the token the hub gave you (or set LLM_REGISTRAR_HUB_TOKEN)`,
    `  providers    ${found[0]}`,
    ...found.slice(1).map((line) => `               ${line}`),
    `               published: ${published.join(', ')}`,
    '  visibility   "private": only you see them on the hub; "public" lets everyone call them',
    '  wake         add a "wake" recipe to a provider to start its server on demand (see the README)',
    '',
    `next: llm-registrar check-config ${path}`,
    `      llm-registrar start${path === defaultConfigPath() ? '' : ` --config ${path}`}`,
    '',
  ];
  return lines.join('\n');
}
