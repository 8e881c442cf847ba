// `llm-registrar <command>`: the one entry point (bin/llm-registrar, npm start).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { checkConfigCommand } from './commands/check-config.ts';
import { hubCommand } from './commands/hub.ts';
import { startCommand } from './commands/start.ts';
import { upCommand } from './commands/up.ts';

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
    usage: `llm-registrar up [--port 4848] [--host 127.0.0.1] [--state-dir DIR]

Starts a hub on 127.0.0.1:4848 and a registrar that publishes the first model server it finds on the usual
local ports (Ollama 11434, vLLM 8000, llama.cpp 8080 and 9931, LM Studio 1234), else the built-in demo model,
then prints a curl command to try it. Ctrl-C stops both.`,
    options: { port: { type: 'string' }, host: { type: 'string' }, 'state-dir': { type: 'string' } },
    run: (values) => upCommand({ port: values.port as string | undefined, host: values.host as string | undefined, stateDir: values['state-dir'] as string | undefined }),
  },
  start: {
    summary: 'Run the registrar daemon in the foreground',
    usage: `llm-registrar start [--config FILE] [--state-dir DIR] [--log-level info]

Publishes the providers of the config file (default: $XDG_CONFIG_HOME/llm-registrar/config.json) on its hub.
LLM_REGISTRAR_HUB_URL and LLM_REGISTRAR_HUB_TOKEN override the file's hub. SIGTERM or Ctrl-C drains: running
tasks finish (up to timing.drainMs), then it exits 0; a second signal stops at once.`,
    options: { config: { type: 'string', short: 'c' }, 'state-dir': { type: 'string' }, 'log-level': { type: 'string' } },
    run: (values) => startCommand({ config: values.config as string | undefined, stateDir: values['state-dir'] as string | undefined, logLevel: values['log-level'] as string | undefined }),
  },
  hub: {
    summary: 'Run the hub (the coordinator registrars connect to and callers call)',
    usage: `llm-registrar hub [--port 4848] [--host 127.0.0.1] (--token T | --tokens-file FILE)
                  [--watchdog-ms 90000] [--keepalive-ms 15000] [--task-timeout-ms 300000]

--token T makes T an admin token (it sees every row). --tokens-file maps tokens to users:
{ "<token>": { "user": "alice" }, "<token>": { "user": "ops", "admin": true } }.
LLM_REGISTRAR_HUB_TOKEN is used when neither is given.`,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      token: { type: 'string' },
      'tokens-file': { type: 'string' },
      'watchdog-ms': { type: 'string' },
      'keepalive-ms': { type: 'string' },
      'task-timeout-ms': { type: 'string' },
      'log-level': { type: 'string' },
    },
    run: (values) => hubCommand(values as Record<string, string | undefined>),
  },
  'check-config': {
    summary: 'Validate a config file and print every problem in it',
    usage: `llm-registrar check-config [FILE]

Exits 0 when the file is valid, 1 when it is not (every problem is printed, named by its path).`,
    options: {},
    run: (_values, positionals) => checkConfigCommand(positionals[0]),
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
