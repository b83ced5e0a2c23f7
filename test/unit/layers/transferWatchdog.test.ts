// The watchdog's contract on a test clock: the header deadline until the first byte,
// then the idle limit measured from the last byte, whatever the transfer's length.
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Option } from "effect"
import { TestClock } from "effect/testing"
import { makeProgress, type Stalled } from "../../../src/layers/TransferWatchdog.ts"

const limits = { firstByte: Duration.seconds(30), idle: Duration.seconds(5) }

/** Forks the watchdog and reports whether it has fired by now. */
const watching = Effect.gen(function*() {
  const progress = yield* makeProgress
  const fiber = yield* progress.watch(limits, (s: Stalled) => s).pipe(Effect.flip, Effect.forkChild)
  const fired = Effect.map(Fiber.await(fiber), () => true).pipe(Effect.timeoutOption(Duration.zero), Effect.map(Option.isSome))
  return { progress, fiber, fired }
})

describe("TransferWatchdog", () => {
  it.effect("before any byte: fails at the header deadline, not before", () =>
    Effect.gen(function*() {
      const { fiber, fired } = yield* watching
      yield* TestClock.adjust("29 seconds")
      assert.isFalse(yield* fired)
      yield* TestClock.adjust("1 second")
      assert.isTrue(yield* fired)
      assert.deepStrictEqual(yield* Fiber.join(fiber), { phase: "first-byte", limit: limits.firstByte, bytes: 0 })
    }))

  it.effect("once bytes flow, the idle limit runs from the last byte, even when it ends before the header deadline", () =>
    Effect.gen(function*() {
      const { progress, fiber, fired } = yield* watching
      yield* TestClock.adjust("1 second")
      progress.moved(100)
      yield* TestClock.adjust("4999 millis")
      assert.isFalse(yield* fired)
      yield* TestClock.adjust("1 millis")
      assert.isTrue(yield* fired, "5 s after the last byte, not at the 30 s header deadline")
      assert.deepStrictEqual(yield* Fiber.join(fiber), { phase: "idle", limit: limits.idle, bytes: 100 })
    }))

  it.effect("a transfer that keeps moving never fires, however long it takes", () =>
    Effect.gen(function*() {
      const { progress, fired } = yield* watching
      for (let minute = 0; minute < 60 * 12; minute++) {
        progress.moved(1)
        yield* TestClock.adjust("4 seconds")
      }
      assert.isFalse(yield* fired)
      assert.strictEqual(progress.bytes(), 720)
    }))
})
