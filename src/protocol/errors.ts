// The registrar's error vocabulary: why a task's run or result post failed, as a code the machines branch on, the
// words its caller may read, and whether any of its result reached the hub. Declared once, here, where machines may
// import it; the actors turn what they caught into a TaskFailure, the task machine reads only that.

export const TASK_ERROR = {
  /** The hub answered 404 for the task: it is unknown or expired, and its work stops. */
  gone: 'task.gone',
  /** The upstream did not answer at all: refused, reset, timed out, or went silent. */
  upstreamUnreachable: 'upstream.unreachable',
  /** The upstream answered with an HTTP error (its status is kept). */
  upstreamHttp: 'upstream.http',
  /** The upstream's answer could not be read, or reported an error inside a 200 stream. */
  upstreamProtocol: 'upstream.protocol',
  /** A field of the call the provider cannot express (refused, never dropped). */
  unsupportedField: 'request.unsupportedField',
  /** The hub took no result: it refused it, or did not answer within the result deadline. */
  hubFailed: 'hub.failed',
  /** Anything else: a bug, or a provider that broke its contract. */
  internal: 'internal',
} as const;

export type TaskErrorCode = (typeof TASK_ERROR)[keyof typeof TASK_ERROR];

export interface TaskFailure {
  code: TaskErrorCode;
  /** What the task's caller reads: it names the model, never where its server listens. */
  message: string;
  /** None of the task's result reached the hub: running it again can neither lose nor double text. */
  nothingSent: boolean;
  /** The upstream's HTTP status, for `upstream.http`. */
  status?: number;
}

export function isTaskFailure(value: unknown): value is TaskFailure {
  if (typeof value !== 'object' || value === null) return false;
  const { code, message, nothingSent } = value as Partial<TaskFailure>;
  return Object.values(TASK_ERROR).includes(code as TaskErrorCode) && typeof message === 'string' && typeof nothingSent === 'boolean';
}
