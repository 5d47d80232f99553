import { Readable } from 'node:stream';

/**
 * `source`'s chunks, each given to `onChunk` the moment it arrives rather than when the
 * returned stream's consumer gets to it: a consumer that starts late (a file still being
 * opened) or writes slowly holds up nothing `onChunk` does. The consumer's pace still bounds
 * memory: `source` is paused while the returned stream holds `bufferBytes` unread. An error
 * from `onChunk` or `source` stops both and reaches the consumer, even one that attaches later.
 */
export function tapAhead(source: Readable, onChunk: (chunk: Buffer) => void, bufferBytes: number): Readable {
  const tapped = new Readable({
    highWaterMark: bufferBytes,
    read: () => {
      source.resume();
    },
    // The source is stopped, not failed: the error is this stream's to report.
    destroy: (error, callback) => {
      source.destroy();
      callback(error);
    },
  });
  // The consumer may attach after an error (its pipeline still sees `errored`): until then, no uncaught 'error'.
  tapped.on('error', () => undefined);
  source.on('data', (chunk: Buffer) => {
    try {
      onChunk(chunk);
    } catch (error) {
      tapped.destroy(error as Error);
      return;
    }
    if (!tapped.push(chunk)) source.pause();
  });
  source.once('end', () => tapped.push(null));
  source.once('error', (error) => tapped.destroy(error));
  // A source closed before its end (a reset socket that raised no error) must not look like a short success.
  source.once('close', () => {
    if (!source.readableEnded) tapped.destroy(new Error('the upstream body closed before its end'));
  });
  return tapped;
}
