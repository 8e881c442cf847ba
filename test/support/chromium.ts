// Debian's chromium for the browser tests, driven by playwright-core; .ci/run installs it. Without it the browser
// tests skip, saying why.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** Screenshots for people to look at (gitignored). */
export const ARTIFACTS = join(import.meta.dirname, '../browser/artifacts');

export const haveChromium = existsSync(CHROMIUM);

/** The describe title: says loudly, in the test report itself, when and why the browser tests did not run. */
export function browserSuite(title: string): string {
  if (haveChromium) return title;
  console.warn(`${title}: SKIPPED, ${CHROMIUM} is not installed (apt-get install chromium; .ci/run does it in CI)`);
  return `${title} (SKIPPED: ${CHROMIUM} is not installed)`;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}
