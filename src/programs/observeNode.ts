// One look at this node as its health verdicts need it: the local Redis's ROLE, what
// the local Sentinel monitors, and the master every known sentinel names. A dependency
// that does not answer becomes an "Unseen" observation, never a failure, and the whole
// look is bounded so a hanging peer cannot stall the caller.
import { Duration, Effect, Option } from "effect"
import { type Endpoint, uniqueEndpoints } from "../domain/Endpoint.ts"
import { type NodeObservation, type Observed } from "../domain/Health.ts"
import { selfRedis, selfSentinel } from "../domain/Settings.ts"
import { Timings } from "../domain/Timings.ts"
import { Redis } from "../layers/Redis.ts"
import { Sentinel } from "../layers/Sentinel.ts"
import { Settings } from "../layers/Settings.ts"

const seen = <A, E extends { readonly message: string }, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<Observed<A>, never, R> =>
  effect.pipe(
    Effect.map((value): Observed<A> => ({ _tag: "Seen", value })),
    Effect.catch((e) => Effect.succeed<Observed<A>>({ _tag: "Unseen", reason: e.message }))
  )

/**
 * `peers`: the other sentinels to ask (the local one is always asked). Every sentinel
 * asked counts as known, and so does every one the local Sentinel counts, so one that
 * does not answer (or was not asked) weighs against a majority.
 */
export const observeNode = (peers: ReadonlyArray<Endpoint>): Effect.Effect<NodeObservation, never, Settings | Redis | Sentinel> =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const redis = yield* Redis
    const sentinel = yield* Sentinel
    const { observation } = yield* Timings
    const local = selfSentinel(settings)
    const asked = uniqueEndpoints([local, ...peers])

    // Each call is bounded by its layer; the whole look once more, as a guard.
    const [role, localSentinel, answers] = yield* Effect.all([
      seen(redis.role(selfRedis(settings))),
      seen(sentinel.master(local, settings.masterName)),
      Effect.forEach(asked, (at) => seen(sentinel.masterAddress(at, settings.masterName)), { concurrency: "unbounded" })
    ], { concurrency: "unbounded" }).pipe(
      Effect.timeoutOrElse({
        duration: observation,
        orElse: () => {
          const silent = { _tag: "Unseen" as const, reason: `no answer within ${Duration.format(observation)}` }
          return Effect.succeed([silent, silent, []] as const)
        }
      })
    )

    return {
      self: selfRedis(settings),
      masterName: settings.masterName,
      role,
      localSentinel,
      sentinels: {
        known: Math.max(asked.length, localSentinel._tag === "Seen" ? Option.match(localSentinel.value, { onNone: () => 1, onSome: (m) => 1 + m.otherSentinels }) : 1),
        answers: answers.flatMap((a): ReadonlyArray<Option.Option<Endpoint>> => (a._tag === "Seen" ? [a.value] : []))
      }
    }
  })
