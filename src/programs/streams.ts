// Streaming pieces of backup and restore: gzip in both directions through Node's zlib
// and a running sha256 + byte count, so a backup of any size passes through in
// bounded memory.
import { createHash } from "node:crypto"
import { createGunzip, createGzip } from "node:zlib"
import * as NodeStream from "@effect/platform-node/NodeStream"
import { Effect, Stream } from "effect"

export const gzip = <E, E2, R>(source: Stream.Stream<Uint8Array, E, R>, onError: (cause: unknown) => E2): Stream.Stream<Uint8Array, E | E2, R> =>
  source.pipe(NodeStream.pipeThroughDuplex({ evaluate: () => createGzip({ level: 6 }), onError }))

export const gunzip = <E, E2, R>(source: Stream.Stream<Uint8Array, E, R>, onError: (cause: unknown) => E2): Stream.Stream<Uint8Array, E | E2, R> =>
  source.pipe(NodeStream.pipeThroughDuplex({ evaluate: () => createGunzip(), onError }))

export interface Digest {
  readonly sha256: string
  readonly bytes: number
}

/**
 * Passes `source` through unchanged while hashing it; `digest` is valid once the
 * returned stream has been fully consumed.
 */
export const digesting = <E, R>(source: Stream.Stream<Uint8Array, E, R>): {
  readonly stream: Stream.Stream<Uint8Array, E, R>
  readonly digest: Effect.Effect<Digest>
} => {
  const hash = createHash("sha256")
  let bytes = 0
  return {
    stream: source.pipe(Stream.tap((chunk) => Effect.sync(() => {
      hash.update(chunk)
      bytes += chunk.byteLength
    }))),
    digest: Effect.sync(() => ({ sha256: hash.copy().digest("hex"), bytes }))
  }
}
