// `llm-registrar completion bash|zsh|fish`: completion scripts made from the command table, so they never lag behind it.
import type { Command } from './table.ts';
import { UsageError } from './usage.ts';

const SHELLS = ['bash', 'zsh', 'fish'] as const;
const TOKEN_ACTIONS = ['add', 'list', 'revoke'];

interface Flag {
  name: string;
  takesValue: boolean;
  /** Its value is a path: complete file names. */
  path: boolean;
}

function flagsOf(command: Command): Flag[] {
  return [...Object.entries(command.options), ['help', { type: 'boolean' }] as const].map(([name, spec]) => ({
    name,
    takesValue: spec.type === 'string',
    path: /(?:file|config|dir|cert|key)$/.test(name),
  }));
}

/** The words typed to reach a command: `hub tokens` is `hub` then `tokens`. */
function wordsOf(name: string): string[] {
  return name.split(' ');
}

function bash(commands: Record<string, Command>): string {
  const top = Object.keys(commands).filter((name) => !name.includes(' '));
  const cases = Object.entries(commands).map(([name, command]) => {
    const words = flagsOf(command).map((flag) => `--${flag.name}`);
    if (name === 'hub') words.unshift('tokens');
    if (name === 'hub tokens') words.unshift(...TOKEN_ACTIONS);
    if (name === 'completion') words.unshift(...SHELLS);
    const pattern = name === 'hub tokens' ? "'hub tokens'" : [name, command.alias].filter(Boolean).join('|');
    return `    ${pattern}) words="${words.join(' ')}" ;;`;
  });
  const pathFlags = Object.values(commands).flatMap((command) => flagsOf(command).filter((flag) => flag.path).map((flag) => `--${flag.name}`));
  return `# bash completion for llm-registrar: source <(llm-registrar completion bash)
_llm_registrar() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} command=\${COMP_WORDS[1]} words
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${[...top, 'ls', 'help'].join(' ')}" -- "$cur"))
    return
  fi
  case "$prev" in
    ${[...new Set(pathFlags)].join('|')}) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  [ "$command" = hub ] && [ "\${COMP_WORDS[2]}" = tokens ] && [ "$COMP_CWORD" -gt 2 ] && command='hub tokens'
  case "$command" in
${cases.join('\n')}
    help) words="${top.join(' ')}" ;;
    *) words="" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _llm_registrar llm-registrar
`;
}

function zshQuote(text: string): string {
  return text.replace(/'/g, "'\\''").replace(/[[\]:]/g, '\\$&');
}

function zsh(commands: Record<string, Command>): string {
  const top = Object.entries(commands).filter(([name]) => !name.includes(' '));
  const described = [...top, ['ls', commands.models] as const].map(([name, command]) => `    '${name}:${zshQuote(command.summary)}'`);
  const specs = (command: Command) =>
    flagsOf(command)
      .map((flag) => `'--${flag.name}${flag.takesValue ? `[]:${flag.name}:${flag.path ? '_files' : ' '}` : ''}'`)
      .join(' ');
  const cases = top.map(([name, command]) => {
    const pattern = [name, command.alias].filter(Boolean).join('|');
    if (name === 'hub') {
      return `    hub)
      if [[ $words[3] == tokens ]]; then
        _arguments '3:action:(${TOKEN_ACTIONS.join(' ')})' ${specs(commands['hub tokens'])} '*: :'
      else
        _arguments '2:subcommand:(tokens)' ${specs(command)}
      fi ;;`;
    }
    if (name === 'completion') return `    completion) _arguments '2:shell:(${SHELLS.join(' ')})' ;;`;
    return `    ${pattern}) _arguments ${specs(command)} '*:file:_files' ;;`;
  });
  return `#compdef llm-registrar
# zsh completion for llm-registrar: source <(llm-registrar completion zsh)   (after compinit)
_llm_registrar() {
  local -a commands
  commands=(
${described.join('\n')}
  )
  if (( CURRENT == 2 )); then
    _describe 'command' commands
    return
  fi
  case $words[2] in
${cases.join('\n')}
    help) _describe 'command' commands ;;
  esac
}
compdef _llm_registrar llm-registrar
`;
}

function fish(commands: Record<string, Command>): string {
  const top = Object.entries(commands).filter(([name]) => !name.includes(' '));
  const fishQuote = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const lines = ['# fish completion for llm-registrar: llm-registrar completion fish > ~/.config/fish/completions/llm-registrar.fish', 'complete -c llm-registrar -f'];
  for (const [name, command] of [...top, ['ls', commands.models] as const]) {
    lines.push(`complete -c llm-registrar -n __fish_use_subcommand -a ${name} -d ${fishQuote(command.summary)}`);
  }
  for (const [name, command] of Object.entries(commands)) {
    const words = wordsOf(name);
    const condition =
      words.length === 1 ? `__fish_seen_subcommand_from ${[name, command.alias].filter(Boolean).join(' ')}` : `__fish_seen_subcommand_from ${words[0]}; and __fish_seen_subcommand_from ${words[1]}`;
    for (const flag of flagsOf(command)) {
      lines.push(`complete -c llm-registrar -n '${condition}' -l ${flag.name}${flag.takesValue ? (flag.path ? ' -r -F' : ' -r') : ''}`);
    }
  }
  lines.push(`complete -c llm-registrar -n '__fish_seen_subcommand_from hub; and not __fish_seen_subcommand_from tokens' -a tokens`);
  lines.push(`complete -c llm-registrar -n '__fish_seen_subcommand_from tokens' -a '${TOKEN_ACTIONS.join(' ')}'`);
  lines.push(`complete -c llm-registrar -n '__fish_seen_subcommand_from completion' -a '${SHELLS.join(' ')}'`);
  lines.push(`complete -c llm-registrar -n '__fish_seen_subcommand_from help' -a '${top.map(([name]) => name).join(' ')}'`);
  return lines.join('\n') + '\n';
}

export async function completionCommand(shell: string | undefined, commands: Record<string, Command>): Promise<number> {
  if (shell !== 'bash' && shell !== 'zsh' && shell !== 'fish') {
    throw new UsageError(shell === undefined ? 'which shell? bash, zsh or fish' : `no completion for '${shell}': bash, zsh or fish`);
  }
  process.stdout.write({ bash, zsh, fish }[shell](commands));
  return 0;
}
