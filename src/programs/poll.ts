// Waiting for a condition the cluster reaches by itself (a replica catching up, a
// sentinel learning a priority, Consul showing a new master): ask again every
// pollEvery, give up after a stated bound. The caller says what giving up yields.
import { type Duration, Effect, Schedule } from "effect"
import { Timings } from "../domain/Timings.ts"

export const pollUntil = <A, E, R>(probe: Effect.Effect<A, E, R>, done: (a: A) => boolean, bound: Duration.Duration, onTimeout: () => A) =>
  Effect.gen(function*() {
    const { pollEvery } = yield* Timings
    return yield* probe.pipe(
      Effect.repeat({ schedule: Schedule.spaced(pollEvery), until: done }),
      Effect.timeoutOrElse({ duration: bound, orElse: () => Effect.succeed(onTimeout()) })
    )
  })
