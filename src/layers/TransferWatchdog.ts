// Bounds a transfer by progress, not by a wall clock: it fails once no byte moved for
// the idle limit, however long the transfer as a whole takes; before the first byte
// only the (short) header deadline applies. Bytes are reported from Node callbacks,
// so the count is a plain cell the watchdog fiber reads; time is Clock's monotonic
// time, so a test clock drives it and a wall clock step cannot fake a stall.
import { Clock, Duration, Effect } from "effect"

export interface TransferLimits {
  /** From the request until the first byte moves: connect, authentication, 100 Continue or the answer's headers. */
  readonly firstByte: Duration.Duration
  /** Between two moves once bytes flow, and from the last byte to the answer. */
  readonly idle: Duration.Duration
}

export interface Stalled {
  readonly phase: "first-byte" | "idle"
  readonly limit: Duration.Duration
  readonly bytes: number
}

export interface Progress {
  /** Reports `bytes` moved (0 for an answer that carries no body); callable from any Node callback. */
  readonly moved: (bytes: number) => void
  readonly bytes: () => number
  /** Never succeeds: fails with `onStall` once the limits are exceeded. Race the transfer against it. */
  readonly watch: <E>(limits: TransferLimits, onStall: (stalled: Stalled) => E) => Effect.Effect<never, E>
}

export const makeProgress: Effect.Effect<Progress> = Effect.gen(function*() {
  const clock = yield* Clock.Clock
  const now = (): number => Number(clock.monotonicTimeNanosUnsafe() / 1_000_000n)
  const startedAt = now()
  let bytes = 0
  let lastMovedAt: number | undefined
  return {
    moved: (n) => {
      bytes += n
      lastMovedAt = now()
    },
    bytes: () => bytes,
    watch: (limits, onStall) =>
      Effect.gen(function*() {
        for (;;) {
          const last = lastMovedAt
          const limit = last === undefined ? limits.firstByte : limits.idle
          const wait = (last ?? startedAt) + Duration.toMillis(limit) - now()
          if (wait <= 0) return yield* Effect.fail(onStall({ phase: last === undefined ? "first-byte" : "idle", limit, bytes }))
          // Before the first byte, wake within one idle limit: once bytes flow, the (shorter) idle deadline may come first.
          yield* Effect.sleep(Duration.millis(last === undefined ? Math.min(wait, Duration.toMillis(limits.idle)) : wait))
        }
      })
  }
})
