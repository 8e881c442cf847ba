// `llm-registrar <command>`: the one entry point (bin/llm-registrar, npm start). Exit codes: 0 ok, 1 failed,
// 2 the command was called wrongly (the error, short, then a pointer to its --help), 3 `status`: no daemon answers.
import { parseArgs } from 'node:util';
import { didYouMean } from './did-you-mean.ts';
import { commandNamed, commands, type Command, type OptionSpec, type Values } from './commands/table.ts';
import { parseLogLevel, UsageError } from './commands/usage.ts';

const EXIT_USAGE = 2;
const help = { help: { type: 'boolean', short: 'h' } } as const;

function mainHelp(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length));
  const lines = Object.entries(commands).map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}${command.alias ? ` (alias: ${command.alias})` : ''}`);
  return `llm-registrar: publish the LLM servers on this workstation as virtual LLMs on a shared hub

Usage: llm-registrar <command> [options]   (llm-registrar help <command>, or <command> --help, for its options)

Commands:
${lines.join('\n')}

llm-registrar --version prints the version. Through npm: npm start -- --port 4858 --status-port 4859
`;
}

/** The command a command line names, and the words after it: `hub tokens` is one command of two words. */
function resolve(argv: string[]): { name: string; command?: Command; rest: string[] } {
  const [first = '', second, ...others] = argv;
  if (first === 'hub' && second === 'tokens') return { name: 'hub tokens', command: commands['hub tokens'], rest: others };
  const command = commandNamed(first);
  const name = command ? (Object.keys(commands).find((key) => commands[key] === command) ?? first) : first;
  return { name, command, rest: argv.slice(1) };
}

function flagNames(options: OptionSpec): string[] {
  return Object.keys(options).map((name) => `--${name}`);
}

/** node's parser, made to say what went wrong in our words: unknown options with the nearest known, missing values. */
function parseCommandLine(command: Command, args: string[]): { values: Values; positionals: string[] } {
  const options: OptionSpec = { ...help, ...command.options };
  const { values, positionals, tokens } = parseArgs({ args, options, allowPositionals: true, strict: false, tokens: true });
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const spec = Object.hasOwn(options, token.name) ? options[token.name] : undefined;
    if (!spec) throw new UsageError(`unknown option ${token.rawName}${didYouMean(`--${token.name}`, flagNames(options), '')}`);
    if (spec.type === 'string' && (token.value === undefined || (!token.inlineValue && token.value.startsWith('--')))) {
      throw new UsageError(`${token.rawName} needs a value`);
    }
    if (spec.type === 'boolean' && token.value !== undefined) throw new UsageError(`${token.rawName} takes no value`);
  }
  const allowed = command.positionals ?? [];
  if (allowed.at(-1) !== '...' && positionals.length > allowed.length) {
    const extra = positionals[allowed.length];
    throw new UsageError(allowed.length === 0 ? `takes no arguments, but was given '${extra}'` : `takes at most ${allowed.join(' ')}, but was also given '${extra}'`);
  }
  parseLogLevel(values['log-level'] as string | undefined);
  if ('log-level' in command.options) parseLogLevel(process.env.LOG_LEVEL || undefined, 'LOG_LEVEL');
  return { values, positionals };
}

async function main(argv: string[]): Promise<number> {
  const [first] = argv;
  if (first === undefined) {
    process.stderr.write(`llm-registrar: which command? Run \`llm-registrar --help\` for the list\n`);
    return EXIT_USAGE;
  }
  if (first === '--version' || first === '-V') return commands.version.run({}, []).then((code) => code ?? 0);
  if (first === '--help' || first === '-h' || first === 'help') {
    const asked = argv.slice(1);
    if (asked.length === 0) {
      process.stdout.write(mainHelp());
      return 0;
    }
    const { command } = resolve(asked);
    if (!command) throw new UsageError(`no command '${asked.join(' ')}'${didYouMean(asked[0], [...Object.keys(commands), 'ls'], "'")}: run \`llm-registrar --help\` for the list`);
    process.stdout.write(`Usage: ${command.usage}\n`);
    return 0;
  }
  const { name, command, rest } = resolve(argv);
  if (!command) {
    process.stderr.write(`llm-registrar: unknown command '${first}'${didYouMean(first, [...Object.keys(commands), 'ls'], "'")}\nRun \`llm-registrar --help\` for the list of commands.\n`);
    return EXIT_USAGE;
  }
  try {
    const { values, positionals } = parseCommandLine(command, rest);
    if (values.help) {
      process.stdout.write(`Usage: ${command.usage}\n`);
      return 0;
    }
    return (await command.run(values, positionals)) ?? 0;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`llm-registrar ${name}: ${error.message}\nSee \`llm-registrar ${name} --help\`.\n`);
    return EXIT_USAGE;
  }
}

// Exit explicitly: a stopped daemon may leave idle keep-alive sockets that would hold the process open.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`llm-registrar: ${(error as Error).message ?? error}\n`);
    process.exit(error instanceof UsageError ? EXIT_USAGE : 1);
  },
);
