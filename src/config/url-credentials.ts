// Credentials written inside the config's URLs (`http://user:pass@…`): printed as `***` everywhere, and named here,
// by path, for `check-config` and the daemon's start to warn about. Never the credentials themselves.
import { hasCredentials } from '../redact.ts';
import type { Config } from './schema.ts';

export function urlCredentialWarnings(config: Config): string[] {
  const warnings: string[] = [];
  const hubUrls = config.hub.urls;
  hubUrls.forEach((url, index) => {
    if (!hasCredentials(url)) return;
    const path = hubUrls.length > 1 ? `hub.url[${index}]` : 'hub.url';
    warnings.push(`${path} has a user name or password in it: they are not sent (the hub takes hub.token) and are shown as *** wherever the URL is printed; remove them`);
  });
  config.providers.forEach((provider, index) => {
    const urls: [string, string | undefined][] = [
      [`providers[${index}].baseUrl`, provider.baseUrl],
      [`providers[${index}].wake.url`, provider.wake?.type === 'http' ? provider.wake.url : undefined],
    ];
    for (const [path, url] of urls) {
      if (url !== undefined && hasCredentials(url)) {
        warnings.push(`${path} has a user name or password in it: it is shown as *** wherever the URL is printed, but sits in the file in clear; prefer apiKey or a header for secrets`);
      }
    }
  });
  return warnings;
}
