// `llm-registrar install-service`: runs `start` as a service of this user, a systemd user unit on Linux or a
// launchd agent on macOS, so the registrar comes back after a reboot or a crash without anyone at the keyboard.
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { defaultConfigPath, defaultStateDir, formatProblems, loadConfig } from '../config/load.ts';
import { UsageError } from './usage.ts';

export type ServicePlatform = 'linux' | 'darwin';

export const SYSTEMD_UNIT = 'llm-registrar.service';
export const LAUNCHD_LABEL = 'io.github.llm-registrar';
const BIN = binOfThisCheckout();
/** The drain takes up to timing.drainMs (30 s by default); the service manager must wait longer before SIGKILL. */
const STOP_TIMEOUT_S = 45;

/** bin/llm-registrar beside this module, whether it runs from the source (src/commands/) or the build (dist/). */
function binOfThisCheckout(): string {
  for (let dir = import.meta.dirname; dirname(dir) !== dir; dir = dirname(dir)) {
    const bin = join(dir, 'bin', 'llm-registrar');
    if (existsSync(bin)) return bin;
  }
  throw new Error(`no bin/llm-registrar above ${import.meta.dirname}`);
}

export interface ServiceSpec {
  platform: ServicePlatform;
  /** The command line: node, the bin script, `start` and its options. */
  argv: string[];
  home: string;
}

export interface ServiceFile {
  path: string;
  text: string;
  /** What to run to turn it on, and to look at it. */
  next: string[];
  /** What `--uninstall` removes beside the file: the link `enable` made. */
  links: string[];
  /** What to run once it is removed, to stop the service still running from it. */
  stop: string[];
}

/** systemd splits ExecStart on spaces and reads \ and % specially: quote every argument that needs it. */
function systemdQuote(arg: string): string {
  const escaped = arg.replace(/%/g, '%%');
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? escaped : `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function xmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function serviceFile(spec: ServiceSpec): ServiceFile {
  if (spec.platform === 'linux') {
    const path = join(spec.home, '.config', 'systemd', 'user', SYSTEMD_UNIT);
    const text = `# Written by \`llm-registrar install-service\`; run it again to rewrite this file.
[Unit]
Description=llm-registrar: publish this workstation's LLM servers on a hub
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=${spec.argv.map(systemdQuote).join(' ')}
# SIGTERM drains: running tasks finish and post their results before the daemon exits.
KillSignal=SIGTERM
TimeoutStopSec=${STOP_TIMEOUT_S}
Restart=on-failure
RestartSec=5
NoNewPrivileges=true

[Install]
WantedBy=default.target
`;
    return {
      path,
      text,
      next: [
        'systemctl --user daemon-reload',
        `systemctl --user enable --now ${SYSTEMD_UNIT}`,
        `journalctl --user -u ${SYSTEMD_UNIT} -f          # its log`,
        'loginctl enable-linger "$USER"                     # keep it running while you are logged out',
      ],
      links: [join(dirname(path), 'default.target.wants', SYSTEMD_UNIT)],
      // A unit whose file is gone stays loaded until the reload, and can still be stopped by name.
      stop: [`systemctl --user stop ${SYSTEMD_UNIT}`, 'systemctl --user daemon-reload'],
    };
  }
  const path = join(spec.home, 'Library', 'LaunchAgents', `${LAUNCHD_LABEL}.plist`);
  const log = join(spec.home, 'Library', 'Logs', 'llm-registrar.log');
  const text = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Written by \`llm-registrar install-service\`; run it again to rewrite this file. -->
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>${LAUNCHD_LABEL}</string>
  <key>ProgramArguments</key>
  <array>
${spec.argv.map((arg) => `    <string>${xmlEscape(arg)}</string>`).join('\n')}
  </array>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <dict>
    <key>SuccessfulExit</key>
    <false/>
  </dict>
  <key>ThrottleInterval</key>
  <integer>5</integer>
  <key>ExitTimeOut</key>
  <integer>${STOP_TIMEOUT_S}</integer>
  <key>StandardOutPath</key>
  <string>${xmlEscape(log)}</string>
  <key>StandardErrorPath</key>
  <string>${xmlEscape(log)}</string>
</dict>
</plist>
`;
  return {
    path,
    text,
    next: [
      `launchctl bootstrap gui/$(id -u) ${path}`,
      `launchctl kickstart -k gui/$(id -u)/${LAUNCHD_LABEL}   # restart it`,
      `tail -f ${log}                                          # its log`,
      `launchctl bootout gui/$(id -u)/${LAUNCHD_LABEL}        # stop and unload it`,
    ],
    links: [],
    stop: [`launchctl bootout gui/$(id -u)/${LAUNCHD_LABEL}`],
  };
}

/** Removes the service file (and the link that enabled it); says what to run to stop what still runs from it. */
async function uninstall(platform: ServicePlatform): Promise<number> {
  const file = serviceFile({ platform, argv: [], home: process.env.HOME || homedir() });
  if (!existsSync(file.path)) {
    process.stdout.write(`nothing to remove: no service file at ${file.path}\n`);
    return 0;
  }
  await rm(file.path);
  await Promise.all(file.links.map((link) => rm(link, { force: true })));
  process.stdout.write([`removed ${file.path}`, '', 'if it is running, stop it:', ...file.stop.map((line) => `  ${line}`)].join('\n') + '\n');
  return 0;
}

export async function installServiceCommand(options: { print?: boolean; uninstall?: boolean; config?: string; platform?: string }): Promise<number> {
  const platform = options.platform ?? process.platform;
  if (platform !== 'linux' && platform !== 'darwin') {
    if (options.platform !== undefined) throw new UsageError(`--platform must be linux or darwin, not '${platform}'`);
    process.stderr.write(`llm-registrar install-service: no service manager known for '${platform}': pass --platform linux (systemd) or darwin (launchd), or run \`llm-registrar start\` under your own\n`);
    return 1;
  }
  if (options.uninstall && options.print) throw new UsageError('--print and --uninstall do not go together: pick one');
  if (options.uninstall) return uninstall(platform);
  const configPath = resolve(options.config ?? defaultConfigPath());
  const loaded = await loadConfig(configPath);
  if (!loaded.ok && !options.print) {
    process.stderr.write(`${formatProblems(loaded)}\nllm-registrar install-service: the service would not start on this config: fix it first (\`llm-registrar init\` writes one)\n`);
    return 1;
  }
  // The service does not see this shell's XDG variables: pin the state directory the shell would use.
  const stateDir = loaded.ok && loaded.config.stateDir ? undefined : defaultStateDir();
  const argv = [process.execPath, BIN, 'start', '--config', configPath, ...(stateDir ? ['--state-dir', stateDir] : [])];
  const file = serviceFile({ platform, argv, home: process.env.HOME || homedir() });

  if (options.print) {
    process.stdout.write(file.text);
    process.stderr.write(`\n(not written; without --print this goes to ${file.path})\n`);
    if (!loaded.ok) process.stderr.write(`warning: ${formatProblems(loaded)}\n`);
    return 0;
  }
  await mkdir(dirname(file.path), { recursive: true });
  await writeFile(file.path, file.text);
  const lines = [`wrote ${file.path}`, '', 'turn it on:', ...file.next.map((line) => `  ${line}`)];
  if (process.env.LLM_REGISTRAR_HUB_URL || process.env.LLM_REGISTRAR_HUB_TOKEN) {
    lines.push('', 'note: the service does not see LLM_REGISTRAR_HUB_URL / LLM_REGISTRAR_HUB_TOKEN of this shell: put the hub in the config file');
  }
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
