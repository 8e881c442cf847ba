// The conversations of responses this hub produced with `store: true`, kept so `previous_response_id` can continue
// them: per user, bounded in count, bytes and age, oldest dropped first. A user reads only their own.
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';

export interface ResponseStoreOptions {
  /** Default 100 responses a user. */
  maxPerUser?: number;
  /** Default 8 MiB of conversation a user (JSON characters). */
  maxBytesPerUser?: number;
  /** Default 1 h. */
  maxAgeMs?: number;
  now?: () => number;
}

interface Entry {
  conversation: ChatCompletionMessageParam[];
  bytes: number;
  storedAt: number;
}

interface Shelf {
  /** Insertion order is age order: the first entry is the oldest. */
  entries: Map<string, Entry>;
  bytes: number;
}

export class ResponseStore {
  readonly #shelves = new Map<string, Shelf>();
  readonly #maxPerUser: number;
  readonly #maxBytes: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;

  constructor(options: ResponseStoreOptions = {}) {
    this.#maxPerUser = options.maxPerUser ?? 100;
    this.#maxBytes = options.maxBytesPerUser ?? 8 * 1024 * 1024;
    this.#maxAgeMs = options.maxAgeMs ?? 3_600_000;
    this.#now = options.now ?? Date.now;
  }

  /** Keeps a conversation; false when it alone is over the per-user byte bound (it is then not kept). */
  put(user: string, responseId: string, conversation: ChatCompletionMessageParam[]): boolean {
    const bytes = JSON.stringify(conversation).length;
    if (bytes > this.#maxBytes) return false;
    const shelf = this.#shelves.get(user) ?? { entries: new Map(), bytes: 0 };
    this.#shelves.set(user, shelf);
    this.#expire(shelf);
    shelf.entries.set(responseId, { conversation, bytes, storedAt: this.#now() });
    shelf.bytes += bytes;
    for (const [id, entry] of shelf.entries) {
      if (shelf.entries.size <= this.#maxPerUser && shelf.bytes <= this.#maxBytes) break;
      this.#drop(shelf, id, entry);
    }
    return true;
  }

  get(user: string, responseId: string): ChatCompletionMessageParam[] | undefined {
    const shelf = this.#shelves.get(user);
    if (!shelf) return undefined;
    this.#expire(shelf);
    if (shelf.entries.size === 0) this.#shelves.delete(user);
    return shelf.entries.get(responseId)?.conversation;
  }

  /** Responses kept for a user (for tests and the bound's figures). */
  size(user: string): number {
    return this.#shelves.get(user)?.entries.size ?? 0;
  }

  #expire(shelf: Shelf): void {
    const oldest = this.#now() - this.#maxAgeMs;
    for (const [id, entry] of shelf.entries) {
      if (entry.storedAt > oldest) break;
      this.#drop(shelf, id, entry);
    }
  }

  #drop(shelf: Shelf, id: string, entry: Entry): void {
    shelf.entries.delete(id);
    shelf.bytes -= entry.bytes;
  }
}
