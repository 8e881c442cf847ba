// Parsing helpers that turn valibot issues into one readable line naming every bad path.
import * as v from 'valibot';

/** Longest text of one issue: valibot quotes a received string whole, and a hostile peer chooses its length. */
const MAX_ISSUE_CHARS = 300;
/** Issues named in one line; the rest are counted (a peer also chooses how many array items are wrong). */
const MAX_ISSUES = 5;

export function describeIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  const named = issues.slice(0, MAX_ISSUES).map((issue) => {
    const path = v.getDotPath(issue);
    const text = path ? `${path}: ${issue.message}` : issue.message;
    return text.length > MAX_ISSUE_CHARS ? `${text.slice(0, MAX_ISSUE_CHARS)}…` : text;
  });
  if (issues.length > MAX_ISSUES) named.push(`and ${issues.length - MAX_ISSUES} more`);
  return named.join('; ');
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

export function parseWith<S extends v.GenericSchema>(schema: S, input: unknown): Parsed<v.InferOutput<S>> {
  const result = v.safeParse(schema, input);
  return result.success ? { ok: true, value: result.output } : { ok: false, error: describeIssues(result.issues) };
}

/** JSON.parse that never throws, for bytes off the network. */
export function parseJson(text: string): Parsed<unknown> {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, error: `not valid JSON (${(error as Error).message})` };
  }
}
