// What the provider tests share: a signal that never aborts, and a stream read to its end.
import type { StreamPiece } from '../../src/providers/index.ts';

export const never = (): AbortSignal => new AbortController().signal;

export async function collect(stream: AsyncIterable<StreamPiece>): Promise<StreamPiece[]> {
  const pieces: StreamPiece[] = [];
  for await (const piece of stream) pieces.push(piece);
  return pieces;
}

export const textOf = (pieces: StreamPiece[]): string => pieces.map((piece) => piece.content ?? '').join('');
