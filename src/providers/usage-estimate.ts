// Token counts for an upstream that reports none, and the usage object they go into.
import type { ChatMessage, Usage } from '../protocol/index.ts';

/**
 * A token count for an upstream that reports none: about four characters a token, the usual rule of thumb for
 * English text with BPE tokenizers. An estimate, never presented as a measurement anywhere else.
 */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

export function estimatePromptTokens(messages: readonly ChatMessage[]): number {
  let chars = 0;
  for (const message of messages) chars += message.content.length;
  return Math.ceil(chars / 4);
}

export function usageOf(promptTokens: number, completionTokens: number): Usage {
  return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
}
