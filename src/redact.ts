// What is never printed in full: credentials written inside a URL (`http://user:pass@host`) and session ids (an id
// read off a log, a status page or the inspector would let someone present it as theirs). Every printed URL and
// session id goes through here.

/** How much of a session id is shown: enough to tell sessions apart, too little to present it. */
export const SHOWN_SESSION_ID_CHARS = 8;

export function shortSessionId(id: string): string;
export function shortSessionId(id: string | undefined): string | undefined;
export function shortSessionId(id: string | undefined): string | undefined {
  return id === undefined ? undefined : id.slice(0, SHOWN_SESSION_ID_CHARS);
}

const USERINFO = /(\/\/)[^/?#\s]*@/g;

/** A URL, or any text with URLs in it (an error message, a library's), with every `user:password@` shown as `***@`. */
export function redactUrl(text: string): string {
  return text.replace(USERINFO, '$1***@');
}

/** True when the URL carries a user name or a password. */
export function hasCredentials(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.username !== '' || parsed.password !== '';
  } catch {
    return new RegExp(USERINFO.source).test(url);
  }
}

/** The URL without its user name and password: what is actually sent (fetch refuses a URL with credentials). */
export function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username === '' && parsed.password === '') return url;
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return url.replace(USERINFO, '$1');
  }
}
