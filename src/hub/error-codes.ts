// Every error the hub raises itself, declared once: its code (what a program matches on, sent as OpenAI's `code`),
// its status, and the words a person reads. Modelled on fastify's `createError` table; errors relayed from an
// upstream keep the upstream's own code instead (errors.ts).

interface Spec<A extends unknown[]> {
  readonly status: number;
  readonly message: (...args: A) => string;
}

const spec = <A extends unknown[]>(status: number, message: (...args: A) => string): Spec<A> => ({ status, message });

/** Words about a model, named once: a registrar's own words (ours say "model 'gpu': …") are not prefixed again. */
export const aboutModel = (model: string, why: string): string => (why.startsWith("model '") ? why : `model '${model}': ${why}`);

export const HUB_ERRORS = {
  // Any route
  invalid_api_key: spec(401, () => 'missing or unknown bearer token (Authorization: Bearer <token>)'),
  invalid_request: spec(400, (problem: string) => problem),
  no_route: spec(404, (method: string, path: string) => `no route ${method} ${path}`),
  path_too_long: spec(414, () => 'a path segment is too long'),
  bad_path: spec(400, () => 'the path is not valid percent-encoding'),
  origin_not_allowed: spec(403, (origin: string) => `origin '${origin}' may not call this hub from a browser: the operator allows it with --cors-origin ${origin}`),
  hub_unavailable: spec(503, (why: string) => why),
  internal_error: spec(500, () => 'internal error of the hub'),
  // The registrar endpoints (SPEC.md §1–6)
  missing_session_header: spec(400, (header: string, why?: string) => `missing header ${header}${why ? `: ${why}` : ''}`),
  session_unknown: spec(404, (then: string) => `unknown providerSessionId: ${then}`),
  session_foreign: spec(403, () => 'providerSessionId was not issued to this token: register afresh without it'),
  name_taken: spec(409, (name: string) => `name '${name}' is held by another live session`),
  too_many_sessions: spec(429, (limit: number) => `this user already has ${limit} live sessions (the hub's maxSessionsPerUser): stop one, or send its providerSessionId to reuse it`),
  invalid_result: spec(400, (problem: string) => problem),
  task_unknown: spec(404, (taskId: string) => `task '${taskId}' is unknown or expired`),
  upload_media_type: spec(415, (type: string) => `send the results as ${type}, one TaskResult a line`),
  result_line_too_large: spec(413, (limit: number) => `a result line is over ${limit} bytes`),
  upload_replaced: spec(409, () => 'a newer upload of this task replaced this one'),
  // The catalog, the operator's routes and a caller's call (dispatch.ts)
  model_not_found: spec(404, (model: string) => `model '${model}' not found`),
  agent_llm_unavailable: spec(503, (agent: string, llm: string) => `agent '${agent}': its LLM '${llm}' is not available`),
  paused: spec(503, (model: string) => `model '${model}' is paused by its owner: try again later`),
  no_healthy_provider: spec(503, (model: string, statuses: string) => `model '${model}' has no healthy provider (${statuses})`),
  call_timeout: spec(504, (model: string, ms: number) => `model '${model}' did not answer within ${ms} ms`),
  registrar_gone: spec(503, (model: string, row: string) => `model '${model}': the registrar publishing '${row}' stopped answering`),
  row_unpublished: spec(503, (row: string) => `'${row}' is no longer published by its registrar`),
  wake_timeout: spec(504, (row: string, ms: number) => `'${row}' did not wake up within ${ms} ms`),
  wake_failed: spec(503, (row: string, why: string) => `could not wake '${row}': ${why}`),
  task_failed: spec(503, aboutModel),
  upstream_key_refused: spec(502, (model: string) => `model '${model}': the model server refused the apiKey of its registrar`),
  upstream_failed: spec(502, aboutModel),
  unsupported_endpoint: spec(400, (path: string) => `its registrar speaks the base wire only, which has no ${path}`),
  unsupported_parameter: spec(400, (problem: string) => problem),
  hub_shutting_down: spec(503, (why: string) => why),
  llm_not_found: spec(404, (name: string) => `LLM '${name}' not found`),
  admin_only: spec(403, (what: string) => `${what}: it needs an admin token`),
} as const;

export type HubErrorCode = keyof typeof HUB_ERRORS;

/** One error, ready to send: what every route answers with, and what the registry returns for a refusal. */
export interface HubError {
  readonly code: HubErrorCode;
  readonly status: number;
  readonly message: string;
  readonly param?: string;
}

export function hubError<C extends HubErrorCode>(code: C, ...args: Parameters<(typeof HUB_ERRORS)[C]['message']>): HubError {
  const { status, message } = HUB_ERRORS[code] as Spec<unknown[]>;
  return { code, status, message: message(...args) };
}
