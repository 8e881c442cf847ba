// The registrar ⇄ hub wire of SPEC.md: every request, answer and frame, as valibot schemas.
import * as v from 'valibot';
import { InferRequest, type ChatCompletion } from './openai.ts';

export const Visibility = v.picklist(['public', 'private']);
export type Visibility = v.InferOutput<typeof Visibility>;
export const Tier = v.picklist(['fast', 'heavy']);
/** `paused` (its owner said "not now") is ours: it goes only to a hub that answered `openai.v1` (SPEC.md §2). */
export const ProviderStatus = v.picklist(['active', 'hibernating', 'unavailable', 'paused']);
export type ProviderStatus = v.InferOutput<typeof ProviderStatus>;

/** What the hub keeps of one registered row or agent (SPEC.md, "One namespace, owned"). */
export const rowLimits = {
  /** Characters of an LLM, pool or agent name. */
  nameChars: 128,
  /** UTF-8 bytes of a description. */
  descriptionBytes: 1024,
  /** UTF-8 bytes of an agent's `defaultParams` or `extras`, as JSON. */
  paramsBytes: 16 * 1024,
  /** Levels of objects and arrays in an agent's `defaultParams` or `extras` (the object itself is level 1). */
  paramsDepth: 8,
  /** Not in SPEC's list, bounded all the same: the hub keeps them too. */
  systemPromptBytes: 64 * 1024,
  shortTextChars: 256,
} as const;

/** A wire name: an LLM, pool or agent name, unique hub-wide. */
export const WireName = v.pipe(
  v.string(),
  v.minLength(1),
  v.maxLength(rowLimits.nameChars, `Invalid name: at most ${rowLimits.nameChars} characters`),
  v.regex(/^[A-Za-z0-9][A-Za-z0-9._:\-/]*$/, 'Invalid name: use letters, digits and . _ : - /'),
);

const ShortText = v.pipe(v.string(), v.maxLength(rowLimits.shortTextChars, `Invalid length: at most ${rowLimits.shortTextChars} characters`));
const Description = v.pipe(v.string(), v.maxBytes(rowLimits.descriptionBytes, `Invalid length: at most ${rowLimits.descriptionBytes} bytes`));

/** Whether a JSON value nests objects or arrays more than `levels` deep; looks no deeper than that, so a hostile depth costs nothing. */
function depthOver(value: unknown, levels: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (levels < 1) return true;
  for (const child of Object.values(value)) if (depthOver(child, levels - 1)) return true;
  return false;
}

/** A free-form JSON object the hub stores and lists: bounded in depth first (a deep one would break JSON.stringify), then in size. */
const BoundedParams = v.pipe(
  v.record(v.string(), v.unknown()),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    if (depthOver(dataset.value, rowLimits.paramsDepth)) {
      addIssue({ message: `Invalid object: nested deeper than ${rowLimits.paramsDepth} levels` });
    } else if (Buffer.byteLength(JSON.stringify(dataset.value)) > rowLimits.paramsBytes) {
      addIssue({ message: `Invalid object: larger than ${rowLimits.paramsBytes} bytes as JSON` });
    }
  }),
);

export const ProviderRow = v.object({
  name: WireName,
  type: v.pipe(v.string(), v.minLength(1), v.maxLength(64)),
  model: v.pipe(ShortText, v.minLength(1)),
  tier: v.optional(Tier),
  description: v.optional(Description),
  poolName: v.optional(WireName),
  visibility: v.optional(Visibility, 'private'),
  initialStatus: v.picklist(['active', 'hibernating']),
});
export type ProviderRow = v.InferOutput<typeof ProviderRow>;

export const AgentRow = v.object({
  name: WireName,
  llmName: WireName,
  description: v.optional(Description),
  systemPrompt: v.optional(v.pipe(v.string(), v.maxBytes(rowLimits.systemPromptBytes, `Invalid length: at most ${rowLimits.systemPromptBytes} bytes`))),
  project: v.optional(ShortText),
  defaultParams: v.optional(BoundedParams),
  extras: v.optional(BoundedParams),
  visibility: v.optional(Visibility, 'private'),
});
export type AgentRow = v.InferOutput<typeof AgentRow>;

export const SessionId = v.pipe(v.string(), v.minLength(1), v.maxLength(200));

/** What each half may speak beyond the base wire (SPEC.md §5); `openai.v1`: calls travel as `openai` frames. */
export const CAPABILITY_OPENAI = 'openai.v1';
/** `result.stream`: a task's results travel in one streamed upload instead of one POST each (SPEC.md §4). */
export const CAPABILITY_RESULT_STREAM = 'result.stream';
export const Capabilities = v.pipe(v.array(v.pipe(v.string(), v.maxLength(64))), v.maxLength(32));

export const RegisterRequest = v.object({
  providers: v.pipe(v.array(ProviderRow), v.minLength(1)),
  providerSessionId: v.optional(SessionId),
  agents: v.optional(v.array(AgentRow)),
  capabilities: v.optional(Capabilities),
});
export type RegisterRequest = v.InferOutput<typeof RegisterRequest>;

export const RegisterResponse = v.looseObject({ providerSessionId: SessionId, capabilities: v.optional(v.array(v.string())) });
export type RegisterResponse = v.InferOutput<typeof RegisterResponse>;

/**
 * The status extension is read leniently: a status this hub does not know (a newer registrar's) is dropped, never a
 * reason to refuse the heartbeat, which would let the watchdog take the session's rows down.
 */
export const HeartbeatRequest = v.object({
  providerSessionId: SessionId,
  providers: v.optional(
    v.pipe(
      v.array(v.object({ name: WireName, status: v.pipe(v.string(), v.maxLength(32)) })),
      v.maxLength(4096),
      v.transform((entries) => entries.filter((entry): entry is { name: string; status: ProviderStatus } => v.is(ProviderStatus, entry.status))),
    ),
  ),
});
export type HeartbeatRequest = v.InferOutput<typeof HeartbeatRequest>;

/** Task ids travel in URL paths: anything that could escape a path segment is refused at the edge. */
export const TaskId = v.pipe(v.string(), v.minLength(1), v.maxLength(200), v.regex(/^[A-Za-z0-9._:\-]+$/, 'Invalid taskId'), v.check((id) => id !== '.' && id !== '..', 'Invalid taskId'));

export const InferFrame = v.object({
  kind: v.literal('infer'),
  taskId: TaskId,
  llmName: WireName,
  streaming: v.boolean(),
  request: InferRequest,
});
export type InferFrame = v.InferOutput<typeof InferFrame>;

/** The OpenAI endpoints an `openai` frame can carry (SPEC.md §5). */
export const OpenAiEndpoint = v.picklist(['chat.completions', 'completions', 'embeddings']);
export type OpenAiEndpoint = v.InferOutput<typeof OpenAiEndpoint>;

/**
 * A JSON object that travels as it came (a caller's body, an upstream's answer): checked to be an object and handed on
 * as it is, never copied key by key — valibot's `record` and `looseObject` leave out keys named `constructor` and
 * `prototype`, which a caller's JSON may hold like any other.
 */
function asSent<T extends Record<string, unknown> = Record<string, unknown>>() {
  return v.custom<T>((input) => typeof input === 'object' && input !== null && !Array.isArray(input), 'Invalid type: expected an object');
}

/** A call as the caller sent it (SPEC.md §5): `body` is the caller's JSON, untouched. */
export const OpenAiFrame = v.object({
  kind: v.literal('openai'),
  taskId: TaskId,
  llmName: WireName,
  endpoint: OpenAiEndpoint,
  streaming: v.boolean(),
  body: asSent(),
});
export type OpenAiFrame = v.InferOutput<typeof OpenAiFrame>;

export const WakeFrame = v.object({ kind: v.literal('wake'), taskId: TaskId, llmName: WireName });
export type WakeFrame = v.InferOutput<typeof WakeFrame>;

export const CancelFrame = v.object({ kind: v.literal('cancel'), taskId: TaskId });
export type CancelFrame = v.InferOutput<typeof CancelFrame>;

export const LeaveRequest = v.object({ providerSessionId: SessionId });
export type LeaveRequest = v.InferOutput<typeof LeaveRequest>;

export const TaskFrame = v.variant('kind', [InferFrame, OpenAiFrame, WakeFrame, CancelFrame]);
export type TaskFrame = v.InferOutput<typeof TaskFrame>;
/** A frame that asks for work (and so for exactly one final result). */
export type WorkFrame = InferFrame | OpenAiFrame | WakeFrame;

export const WakeResultBody = v.object({ ok: v.literal(true), ms: v.number() });

export const ResultChunk = v.object({
  data: v.string(),
  seq: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
  done: v.optional(v.literal(true)),
});
export type ResultChunk = v.InferOutput<typeof ResultChunk>;

export const TaskResult = v.union(
  [
    v.strictObject({ status: v.literal(200), body: asSent<ChatCompletion | v.InferOutput<typeof WakeResultBody> | Record<string, unknown>>() }),
    v.strictObject({
      error: v.pipe(v.string(), v.maxLength(10_000)),
      // Extension (SPEC.md §5): the upstream's HTTP error, so the hub answers the caller with the same status.
      status: v.optional(v.pipe(v.number(), v.integer(), v.minValue(400), v.maxValue(599))),
      type: v.optional(v.pipe(v.string(), v.maxLength(200))),
      code: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(200)))),
      param: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(200)))),
    }),
    v.strictObject({ chunk: ResultChunk }),
  ],
  'Invalid result: expected exactly one of { status: 200, body }, { error }, { chunk: { data, seq?, done? } }',
);
/** An upstream HTTP error as the result carries it (SPEC.md §5). */
export interface UpstreamErrorFields {
  status?: number;
  type?: string;
  code?: string | null;
  param?: string | null;
}
export type TaskResult = v.InferOutput<typeof TaskResult>;

/** A result that ends its task (everything but a chunk that is not `done`). */
export function isFinalResult(result: TaskResult): boolean {
  return !('chunk' in result) || result.chunk.done === true;
}

export const DONE = '[DONE]';

export const paths = {
  register: '/api/v1/llms/_provider-register',
  heartbeat: '/api/v1/llms/_provider-heartbeat',
  stream: '/api/v1/llms/_provider-stream',
  leave: '/api/v1/llms/_provider-leave',
  result: (taskId: string) => `/api/v1/llms/_provider-task/${encodeURIComponent(taskId)}/result`,
  resultStream: (taskId: string) => `/api/v1/llms/_provider-task/${encodeURIComponent(taskId)}/result-stream`,
} as const;

export const SESSION_HEADER = 'x-mcpctl-provider-session';

/** Hard limits that keep memory bounded whatever the peer sends. */
export const limits = {
  /** Largest task frame (one SSE event's data) the registrar accepts. */
  maxFrameBytes: 4 * 1024 * 1024,
  /** Largest JSON body the hub accepts on its endpoints. */
  maxBodyBytes: 8 * 1024 * 1024,
  /** Tasks that may wait in one provider's queue. */
  maxQueuedPerProvider: 1000,
} as const;
