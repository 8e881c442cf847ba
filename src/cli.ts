// `llm-registrar <command>`: the one entry point (bin/llm-registrar, npm start).
// Each command is imported when it runs: `start` does not load the hub's web server, `status` loads neither.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DEFAULT_STATUS_URL, statusCommand } from './commands/status.ts';
import { watchFlagsOf, watchHelp, watchOptions } from './commands/watch.ts';

interface Command {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run: (values: Record<string, string | boolean | undefined>, positionals: string[]) => Promise<number | void>;
}

const common = { help: { type: 'boolean', short: 'h' } } as const;

const commands: Record<string, Command> = {
  up: {
    summary: 'Run a hub and a registrar here, publishing the best local model server (or the demo model)',
    usage: `llm-registrar up [--port 4848] [--host 127.0.0.1] [--state-dir DIR] [--status-port 4849] [--no-status] [--inspect]

Starts a hub on 127.0.0.1:4848 and a registrar that publishes the first model server it finds on the usual
local ports (Ollama 11434, vLLM 8000, llama.cpp 8080 and 9931, LM Studio 1234), else the built-in demo model,
then prints a curl command to try it and the status page to watch it. Ctrl-C stops both.

${watchHelp}`,
    options: { port: { type: 'string' }, host: { type: 'string' }, 'state-dir': { type: 'string' }, ...watchOptions },
    run: async (values) =>
      (await import('./commands/up.ts')).upCommand({
        port: values.port as string | undefined,
        host: values.host as string | undefined,
        stateDir: values['state-dir'] as string | undefined,
        watch: watchFlagsOf(values),
      }),
  },
  start: {
    summary: 'Run the registrar daemon in the foreground',
    usage: `llm-registrar start [--config FILE] [--state-dir DIR] [--log-level info] [--status-port 4849] [--no-status] [--inspect]

Publishes the providers of the config file (default: $XDG_CONFIG_HOME/llm-registrar/config.json) on its hub.
LLM_REGISTRAR_HUB_URL and LLM_REGISTRAR_HUB_TOKEN override the file's hub. SIGTERM or Ctrl-C drains: running
tasks finish (up to timing.drainMs), then it exits 0; a second signal stops at once.
While it waits (a register that retries, a stream that reconnects, a wake) it says so, with the next try's delay.

${watchHelp}
The config's "status": { "port", "host", "enabled" } sets the status server's defaults.
\`llm-registrar install-service\` runs this command as a service of your user.`,
    options: { config: { type: 'string', short: 'c' }, 'state-dir': { type: 'string' }, 'log-level': { type: 'string' }, ...watchOptions },
    run: async (values) =>
      (await import('./commands/start.ts')).startCommand({
        config: values.config as string | undefined,
        stateDir: values['state-dir'] as string | undefined,
        logLevel: values['log-level'] as string | undefined,
        watch: watchFlagsOf(values),
      }),
  },
  hub: {
    summary: 'Run the hub (the coordinator registrars connect to and callers call)',
    usage: `llm-registrar hub [--port 4848] [--host 127.0.0.1] (--token T | --tokens-file FILE)
                  [--watchdog-ms 90000] [--keepalive-ms 15000] [--task-timeout-ms 300000]
                  [--stream-grace-ms 10000] [--cors-origin https://app.example ...]

--token T makes T an admin token (it sees every row). --tokens-file maps tokens to users:
{ "<token>": { "user": "alice" }, "<token>": { "user": "ops", "admin": true } }.
LLM_REGISTRAR_HUB_TOKEN is used when neither is given.
Open the hub's address in a browser for a page that asks for a token and lists the LLMs it may call.
--cors-origin (repeatable; none by default) lets pages of that origin call the hub from a browser.
--stream-grace-ms: how long calls wait for a registrar whose task stream dropped before they get 503.`,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      token: { type: 'string' },
      'tokens-file': { type: 'string' },
      'watchdog-ms': { type: 'string' },
      'keepalive-ms': { type: 'string' },
      'task-timeout-ms': { type: 'string' },
      'stream-grace-ms': { type: 'string' },
      'cors-origin': { type: 'string', multiple: true },
      'log-level': { type: 'string' },
    },
    run: async (values) => {
      const { 'cors-origin': corsOrigins, ...rest } = values;
      return (await import('./commands/hub.ts')).hubCommand(rest as Record<string, string | undefined>, (corsOrigins as string[] | undefined) ?? []);
    },
  },
  'check-config': {
    summary: 'Validate a config file and print every problem in it',
    usage: `llm-registrar check-config [FILE]

Validates FILE (default: $XDG_CONFIG_HOME/llm-registrar/config.json) as \`start\` would load it, with
LLM_REGISTRAR_HUB_URL and LLM_REGISTRAR_HUB_TOKEN applied. Exits 0 when the file is valid, 1 when it is not:
every problem is printed, named by its path (providers[1].wake.url: Invalid URL), never echoing a value.
\`llm-registrar init\` writes a starter file; \`llm-registrar schema\` prints its JSON Schema for editors.`,
    options: {},
    run: async (_values, positionals) => (await import('./commands/check-config.ts')).checkConfigCommand(positionals[0]),
  },
  status: {
    summary: "Show a running registrar's session, providers and tasks; exit 0 only when it is connected",
    usage: `llm-registrar status [--status-url ${DEFAULT_STATUS_URL}] [--json]

Reads the status server of a running \`start\` or \`up\` (LLM_REGISTRAR_STATUS_URL works too) and prints its
actor tree: the session with the hub and its id, each provider's state, queue and running tasks, the last error
and the latest transitions. Colour on a terminal (NO_COLOR turns it off); --json prints the /status document.

Exit codes, for scripts: 0 connected (the task stream is open), 1 running but not connected, 3 not running
(nothing answers at the URL).`,
    options: { 'status-url': { type: 'string' }, json: { type: 'boolean' } },
    run: (values) => statusCommand({ statusUrl: values['status-url'] as string | undefined, json: values.json === true }),
  },
  init: {
    summary: 'Write a starter config from the model servers running here',
    usage: `llm-registrar init [--force] [--hub URL] [FILE]

Looks for model servers on the usual ports (Ollama 11434, vLLM 8000, llama.cpp 8080 and 9931, LM Studio 1234)
and writes a config that publishes the first model of each (the others listed with "publish": false), or the
built-in demo model when none answers. FILE defaults to $XDG_CONFIG_HOME/llm-registrar/config.json; it is written
with mode 0600, with config.schema.json beside it for editors, and the choices are explained on the terminal.

--hub URL   the hub to publish on (default: LLM_REGISTRAR_HUB_URL, else http://127.0.0.1:4848)
--force     replace an existing file (kept as FILE.bak)
The token is taken from LLM_REGISTRAR_HUB_TOKEN when it is set, else a placeholder to replace.`,
    options: { force: { type: 'boolean' }, hub: { type: 'string' } },
    run: async (values, positionals) => (await import('./commands/init.ts')).initCommand({ file: positionals[0], force: values.force === true, hub: values.hub as string | undefined }),
  },
  schema: {
    summary: "Print the config file's JSON Schema (for editors)",
    usage: `llm-registrar schema > config.schema.json

Prints the JSON Schema of the config file, generated from the schema the loader checks. Name it in the file
("$schema": "./config.schema.json") and editors complete and check every key; \`init\` does both for you.`,
    options: {},
    run: async () => (await import('./commands/schema.ts')).schemaCommand(),
  },
  'install-service': {
    summary: 'Run `start` as a service of your user (systemd on Linux, launchd on macOS)',
    usage: `llm-registrar install-service [--print] [--config FILE] [--platform linux|darwin]

Writes a systemd user unit (~/.config/systemd/user/llm-registrar.service) on Linux, or a launchd agent
(~/Library/LaunchAgents/io.github.llm-registrar.plist) on macOS, that runs \`llm-registrar start --config FILE\`
with this node and this checkout, restarts it when it fails, and gives its drain time to finish on stop. Then it
prints the commands that turn it on. The config must be valid (see check-config).

--print        show the file instead of writing it
--config FILE  the config the service uses (default: $XDG_CONFIG_HOME/llm-registrar/config.json)
--platform P   write the file for another platform: linux or darwin`,
    options: { print: { type: 'boolean' }, config: { type: 'string', short: 'c' }, platform: { type: 'string' } },
    run: async (values) =>
      (await import('./commands/install-service.ts')).installServiceCommand({ print: values.print === true, config: values.config as string | undefined, platform: values.platform as string | undefined }),
  },
};

function mainHelp(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length));
  const lines = Object.entries(commands).map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`);
  return `llm-registrar: publish the LLM servers on this workstation as virtual LLMs on a shared hub

Usage: llm-registrar <command> [options]   (llm-registrar <command> --help for its options)

Commands:
${lines.join('\n')}
`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(mainHelp());
    return name === undefined ? 1 : 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`llm-registrar: unknown command '${name}'\n\n${mainHelp()}`);
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { ...common, ...command.options }, allowPositionals: true, strict: true });
  } catch (error) {
    process.stderr.write(`llm-registrar ${name}: ${(error as Error).message}\n\nUsage: ${command.usage}\n`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(`Usage: ${command.usage}\n`);
    return 0;
  }
  const code = await command.run(parsed.values, parsed.positionals);
  return code ?? 0;
}

// Exit explicitly: a stopped daemon may leave idle keep-alive sockets that would hold the process open.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`llm-registrar: ${(error as Error).message ?? error}\n`);
    process.exit(1);
  },
);
