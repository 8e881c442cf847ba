// Every command of `llm-registrar`: its help, its options and positionals, and what runs it (imported only then, so
// `start` does not load the hub's web server and `status` loads neither).
import type { ParseArgsConfig } from 'node:util';
import { DEFAULT_STATUS_URL } from './status.ts';
import { watchFlagsOf, watchHelp, watchOptions } from './watch-flags.ts';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | undefined>;

export interface Command {
  summary: string;
  usage: string;
  options: OptionSpec;
  /** Positionals it takes: their names, for the usage error of one too many; `...` at the end takes any number. */
  positionals?: string[];
  /** Another name it answers to (`ls` for `models`). */
  alias?: string;
  run: (values: Values, positionals: string[]) => Promise<number | void>;
}

const logLevelHelp = '--log-level L      fatal, error, warn, info (default), debug (every state transition), trace or silent';
const jsonHelp = '--json             print JSON instead of text, for scripts';
const str = (values: Values, name: string) => values[name] as string | undefined;

export const commands: Record<string, Command> = {
  up: {
    summary: 'Run a hub and a registrar here, publishing the best local model server (or the demo model)',
    usage: `llm-registrar up [--port 4848] [--host 127.0.0.1] [--state-dir DIR] [--log-level info] [--status-port 4849] [--no-status] [--inspect]

Starts a hub on 127.0.0.1:4848 and a registrar that publishes the first model server it finds on the usual
local ports (Ollama 11434, vLLM 8000, llama.cpp 8080 and 9931, LM Studio 1234), else the built-in demo model,
then prints a curl command to try it and the status page to watch it. Ctrl-C stops both.
Through npm, options go after --: npm start -- --port 4858 --status-port 4859

${logLevelHelp}
${watchHelp}`,
    options: { port: { type: 'string' }, host: { type: 'string' }, 'state-dir': { type: 'string' }, 'log-level': { type: 'string' }, ...watchOptions },
    run: async (values) =>
      (await import('./up.ts')).upCommand({ port: str(values, 'port'), host: str(values, 'host'), stateDir: str(values, 'state-dir'), logLevel: str(values, 'log-level'), watch: watchFlagsOf(values) }),
  },
  start: {
    summary: 'Run the registrar daemon in the foreground',
    usage: `llm-registrar start [--config FILE] [--state-dir DIR] [--log-level info] [--status-port 4849] [--no-status] [--inspect]

Publishes the providers of the config file (default: $XDG_CONFIG_HOME/llm-registrar/config.json) on its hub.
LLM_REGISTRAR_HUB_URL and LLM_REGISTRAR_HUB_TOKEN override the file's hub. SIGTERM or Ctrl-C drains: running
tasks finish (up to timing.drainMs), then it exits 0; a second signal stops at once.
It says when it is live (what it publishes, to whom, and the hub URL to call), logs one line per finished call,
and while it waits (a register that retries, a stream that reconnects, a wake) it says so, with the next try's delay.

--config FILE      the config file
--state-dir DIR    where the session id and the tasks in flight are kept (default: $XDG_STATE_HOME/llm-registrar)
${logLevelHelp}
${watchHelp}
The config's "status": { "port", "host", "enabled" } sets the status server's defaults.
\`llm-registrar install-service\` runs this command as a service of your user.`,
    options: { config: { type: 'string', short: 'c' }, 'state-dir': { type: 'string' }, 'log-level': { type: 'string' }, ...watchOptions },
    run: async (values) =>
      (await import('./start.ts')).startCommand({ config: str(values, 'config'), stateDir: str(values, 'state-dir'), logLevel: str(values, 'log-level'), watch: watchFlagsOf(values) }),
  },
  hub: {
    summary: 'Run the hub (the coordinator registrars connect to and callers call)',
    usage: `llm-registrar hub [--port 4848] [--host 127.0.0.1] [--tokens-file FILE] [--token-file FILE]
                  [--tls-cert FILE --tls-key FILE] [--watchdog-ms 90000] [--keepalive-ms 15000] [--task-timeout-ms 300000]
                  [--state-dir DIR] [--retention-ms 86400000] [--max-rows-per-session 256]
                  [--max-sessions-per-user 1024] [--max-result-bytes 8388608]
                  [--request-timeout-ms 30000] [--max-connections 4096]
                  [--stream-grace-ms 10000] [--cors-origin https://app.example ...]
                  [--store postgres://… --bus redis://…]

--tokens-file FILE   who may use the hub: manage it with \`llm-registrar hub tokens add NAME | list | revoke NAME\`;
                     the hub reloads it when it changes (and on SIGHUP), no restart needed
--token-file FILE    a file holding one admin token (it sees every row); LLM_REGISTRAR_HUB_ADMIN_TOKEN works too
--token T            the same on the command line (other users of this machine see it in \`ps\`: prefer the above)
--host H             127.0.0.1 (default) is this machine alone; 0.0.0.0 is every interface, for a team
--tls-cert, --tls-key  serve HTTPS with this PEM certificate and key; without them the hub speaks plain HTTP, and
                     tokens cross the network in clear: put TLS in front of it, or pass these
--state-dir DIR      (default $XDG_STATE_HOME/llm-registrar-hub) keeps the key session ids are signed with: keep it
                     across restarts, or every registrar registers afresh
--retention-ms, --max-rows-per-session, --max-sessions-per-user, --max-result-bytes, --request-timeout-ms,
--max-connections    the hub's limits (README, "The hub's limits")
--stream-grace-ms    how long calls wait for a registrar whose task stream dropped before they get 503
--cors-origin O      (repeatable; none by default) lets pages of that origin call the hub from a browser
--store URL, --bus URL  run as one of several replicas sharing this PostgreSQL (the store of record) and this Redis
                     (liveness, task frames, results); both or neither; LLM_REGISTRAR_HUB_STORE and _BUS work too
                     (README, "Running the hub on several machines")
${logLevelHelp}
LLM_REGISTRAR_HUB_TOKEN is the admin token when no other token is given.
Open the hub's address in a browser for a page that asks for a token and lists the LLMs it may call.`,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      token: { type: 'string' },
      'token-file': { type: 'string' },
      'tokens-file': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'watchdog-ms': { type: 'string' },
      'keepalive-ms': { type: 'string' },
      'task-timeout-ms': { type: 'string' },
      'state-dir': { type: 'string' },
      'retention-ms': { type: 'string' },
      'max-rows-per-session': { type: 'string' },
      'max-sessions-per-user': { type: 'string' },
      'max-result-bytes': { type: 'string' },
      'request-timeout-ms': { type: 'string' },
      'max-connections': { type: 'string' },
      'stream-grace-ms': { type: 'string' },
      'cors-origin': { type: 'string', multiple: true },
      store: { type: 'string' },
      bus: { type: 'string' },
      'log-level': { type: 'string' },
    },
    run: async (values) => {
      const { 'cors-origin': corsOrigins, ...rest } = values;
      return (await import('./hub.ts')).hubCommand(rest as Record<string, string | undefined>, (corsOrigins as string[] | undefined) ?? []);
    },
  },
  'hub tokens': {
    summary: "Manage the hub's tokens file: add NAME [--admin], list, revoke NAME, migrate",
    usage: `llm-registrar hub tokens add NAME [--admin] [--json] --tokens-file FILE
       llm-registrar hub tokens list [--json] --tokens-file FILE
       llm-registrar hub tokens revoke NAME --tokens-file FILE
       llm-registrar hub tokens migrate --tokens-file FILE

add     makes a token for the user NAME (--admin: it sees every row), prints it once and stores only its SHA-256
        hash: copy it then, it cannot be shown again
list    the users of the file, admin or not, and when their token was made (never a token)
revoke  removes NAME's tokens; a running hub refuses them within a second, without a restart
migrate rewrites a file of clear-text tokens (the old format, which the hub still reads) with their hashes
The file is written with mode 0600, whole, then renamed into place; add and revoke store hashes for every entry.
LLM_REGISTRAR_HUB_TOKENS_FILE names the file when --tokens-file is not given.`,
    options: { 'tokens-file': { type: 'string' }, admin: { type: 'boolean' }, json: { type: 'boolean' } },
    positionals: ['ACTION', 'NAME'],
    run: async (values, positionals) =>
      (await import('./hub-tokens.ts')).hubTokensCommand({ action: positionals[0], name: positionals[1], file: str(values, 'tokens-file'), admin: values.admin === true, json: values.json === true }),
  },
  models: {
    summary: 'List the LLMs, pools and agents the hub offers your token',
    alias: 'ls',
    usage: `llm-registrar models [--config FILE] [--json]      (alias: ls)

Asks the hub of the config file (LLM_REGISTRAR_HUB_URL and LLM_REGISTRAR_HUB_TOKEN override it) what its token
may call: each LLM's name, status (active, hibernating, inactive), owner, visibility, pool and model, then the agents.

--config FILE      the config file whose hub and token to use
${jsonHelp}`,
    options: { config: { type: 'string', short: 'c' }, json: { type: 'boolean' } },
    run: async (values) => (await import('./models.ts')).modelsCommand({ config: str(values, 'config'), json: values.json === true }),
  },
  usage: {
    summary: 'Show calls and tokens per model or user from the hub (yours; everyone\'s with an admin token)',
    usage: `llm-registrar usage [--by model|user] [--since 24h] [--config FILE] [--json]

Asks the hub of the config file (LLM_REGISTRAR_HUB_URL and LLM_REGISTRAR_HUB_TOKEN override it) how many calls,
errors and tokens (as the model servers reported them, else estimated) its token made; an admin token sees every
user's. An in-memory hub keeps the last 100 000 calls of the last 48 h.

--by model|user    one line per model as asked (default), or per user
--since WHEN       how far back: 90s, 30m, 24h (default), 7d, ms since the epoch, or an ISO date
--config FILE      the config file whose hub and token to use
${jsonHelp}`,
    options: { by: { type: 'string' }, since: { type: 'string' }, config: { type: 'string', short: 'c' }, json: { type: 'boolean' } },
    run: async (values) => (await import('./usage-report.ts')).usageCommand({ config: str(values, 'config'), by: str(values, 'by'), since: str(values, 'since'), json: values.json === true }),
  },
  'check-config': {
    summary: 'Validate a config file and print every problem in it',
    usage: `llm-registrar check-config [FILE | --config FILE] [--json]

Validates FILE (default: $XDG_CONFIG_HOME/llm-registrar/config.json) as \`start\` would load it, with
LLM_REGISTRAR_HUB_URL and LLM_REGISTRAR_HUB_TOKEN applied. Exits 0 when the file is valid, 1 when it is not:
every problem is printed, named by its path (providers[1].wake.url: Invalid URL), never echoing a value.
\`llm-registrar init\` writes a starter file; \`llm-registrar schema\` prints its JSON Schema for editors.

${jsonHelp}`,
    options: { config: { type: 'string', short: 'c' }, json: { type: 'boolean' } },
    positionals: ['FILE'],
    run: async (values, positionals) => (await import('./check-config.ts')).checkConfigCommand({ file: positionals[0], config: str(values, 'config'), json: values.json === true }),
  },
  status: {
    summary: "Show a running registrar's session, what it publishes, and its tasks; exit 0 only when connected",
    usage: `llm-registrar status [--status-url ${DEFAULT_STATUS_URL}] [--json]

Reads the status server of a running \`start\` or \`up\` (LLM_REGISTRAR_STATUS_URL works too) and prints, in words,
whether it is connected to its hub (and if not, why and when it tries again), its config file, the rows it
publishes with their visibility, each provider's state, queue and running tasks, and the latest transitions.
Colour on a terminal (NO_COLOR turns it off).

${jsonHelp} (the /status document)

Exit codes, for scripts: 0 connected (the task stream is open), 1 running but not connected, 3 not running
(nothing answers at the URL).`,
    options: { 'status-url': { type: 'string' }, json: { type: 'boolean' } },
    run: async (values) => (await import('./status.ts')).statusCommand({ statusUrl: str(values, 'status-url'), json: values.json === true }),
  },
  pause: {
    summary: 'Stop sharing providers for now (all, or the ones named), optionally for a while',
    usage: `llm-registrar pause [NAME...] [--for 2h] [--status-url ${DEFAULT_STATUS_URL}] [--state-dir DIR] [--json]

Tells the running \`start\` or \`up\` (through its status server) to pause the providers named by their published
names, or all of them: the hub shows them \`paused\` and answers new calls 503 "paused by its owner" with Retry-After;
calls already running finish. \`llm-registrar resume\` shares them again; the status page has the same buttons.

--for D          resume on its own after D: 90s, 15m, 2h, 1h30m, 1d
--status-url U   the daemon's status server (LLM_REGISTRAR_STATUS_URL works too)
--state-dir DIR  the daemon's state dir, where its status-token file is (default: the file its status server names)
${jsonHelp}`,
    options: { for: { type: 'string' }, 'status-url': { type: 'string' }, 'state-dir': { type: 'string' }, json: { type: 'boolean' } },
    positionals: ['NAME', '...'],
    run: async (values, positionals) =>
      (await import('./pause.ts')).pauseCommand({ action: 'pause', names: positionals, for: str(values, 'for'), statusUrl: str(values, 'status-url'), stateDir: str(values, 'state-dir'), json: values.json === true }),
  },
  resume: {
    summary: 'Share paused providers again (all, or the ones named)',
    usage: `llm-registrar resume [NAME...] [--status-url ${DEFAULT_STATUS_URL}] [--state-dir DIR] [--json]

Undoes \`llm-registrar pause\` for the providers named, or all of them (a pause --for ends early too).

--status-url U   the daemon's status server (LLM_REGISTRAR_STATUS_URL works too)
--state-dir DIR  the daemon's state dir, where its status-token file is
${jsonHelp}`,
    options: { 'status-url': { type: 'string' }, 'state-dir': { type: 'string' }, json: { type: 'boolean' } },
    positionals: ['NAME', '...'],
    run: async (values, positionals) =>
      (await import('./pause.ts')).pauseCommand({ action: 'resume', names: positionals, statusUrl: str(values, 'status-url'), stateDir: str(values, 'state-dir'), json: values.json === true }),
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
    positionals: ['FILE'],
    run: async (values, positionals) => (await import('./init.ts')).initCommand({ file: positionals[0], force: values.force === true, hub: str(values, 'hub') }),
  },
  schema: {
    summary: "Print the config file's JSON Schema (for editors)",
    usage: `llm-registrar schema > config.schema.json

Prints the JSON Schema of the config file, generated from the schema the loader checks. Name it in the file
("$schema": "./config.schema.json") and editors complete and check every key; \`init\` does both for you.`,
    options: {},
    run: async () => (await import('./schema.ts')).schemaCommand(),
  },
  'install-service': {
    summary: 'Run `start` as a service of your user (systemd on Linux, launchd on macOS), or remove it',
    usage: `llm-registrar install-service [--print] [--uninstall] [--config FILE] [--platform linux|darwin]

Writes a systemd user unit (~/.config/systemd/user/llm-registrar.service) on Linux, or a launchd agent
(~/Library/LaunchAgents/io.github.llm-registrar.plist) on macOS, that runs \`llm-registrar start --config FILE\`
with this node and this checkout, restarts it when it fails, and gives its drain time to finish on stop. Then it
prints the commands that turn it on. The config must be valid (see check-config).

--print        show the file instead of writing it
--uninstall    remove the file, after printing the command that stops the service
--config FILE  the config the service uses (default: $XDG_CONFIG_HOME/llm-registrar/config.json)
--platform P   write the file for another platform: linux or darwin`,
    options: { print: { type: 'boolean' }, uninstall: { type: 'boolean' }, config: { type: 'string', short: 'c' }, platform: { type: 'string' } },
    run: async (values) =>
      (await import('./install-service.ts')).installServiceCommand({ print: values.print === true, uninstall: values.uninstall === true, config: str(values, 'config'), platform: str(values, 'platform') }),
  },
  completion: {
    summary: 'Print a shell completion script: bash, zsh or fish',
    usage: `llm-registrar completion bash|zsh|fish

bash:  source <(llm-registrar completion bash)           (in ~/.bashrc)
zsh:   source <(llm-registrar completion zsh)            (in ~/.zshrc, after compinit)
fish:  llm-registrar completion fish > ~/.config/fish/completions/llm-registrar.fish`,
    options: {},
    positionals: ['SHELL'],
    run: async (_values, positionals) => (await import('./completion.ts')).completionCommand(positionals[0], commands),
  },
  version: {
    summary: 'Print the version (also --version)',
    usage: `llm-registrar version [--json]

Prints the version of llm-registrar and of the node that runs it.

${jsonHelp}`,
    options: { json: { type: 'boolean' } },
    run: async (values) => (await import('./version.ts')).versionCommand({ json: values.json === true }),
  },
};

/** A command by its name or alias. */
export function commandNamed(name: string): Command | undefined {
  return Object.hasOwn(commands, name) ? commands[name] : Object.values(commands).find((command) => command.alias === name);
}
