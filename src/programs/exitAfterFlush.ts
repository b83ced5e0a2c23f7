// Exiting without losing output. On Linux a write to a pipe that is full (64 KiB
// unread, e.g. ContainerPilot or a shell still reading) is queued in the process, and
// process.exit() drops the queue: the end of an error message vanished. So the exit
// waits until stdout and stderr have handed everything to the kernel, bounded in case
// nobody ever reads.
import type { Writable } from "node:stream"

/** How long an exit waits for a reader that does not read. */
export const flushBound = 10_000

/** Resolves once every earlier write to `stream` is done (or failed: a closed pipe). */
const drained = (stream: Writable): Promise<void> =>
  new Promise((resolve) => {
    if (stream.writableLength === 0 || stream.destroyed) resolve()
    // Writes complete in order, so this callback runs after every earlier one.
    else stream.write("", () => resolve())
  })

export const exitAfterFlush = (code: number, streams: ReadonlyArray<Writable> = [process.stdout, process.stderr]): void => {
  const bound = setTimeout(() => process.exit(code), flushBound)
  bound.unref()
  void Promise.all(streams.map(drained)).then(() => process.exit(code))
}
