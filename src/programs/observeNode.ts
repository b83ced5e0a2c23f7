// One look at this node as its health verdicts need it: the local Redis's ROLE, what
// the local Sentinel monitors, and the master every known sentinel names. A dependency
// that does not answer becomes an "Unseen" observation, never a failure, and the whole
// look is bounded so a hanging peer cannot stall the caller.
import { Clock, Deferred, Duration, Effect, Option, Ref } from "effect"
import { type Endpoint, formatEndpoint, sameEndpoint, uniqueEndpoints } from "../domain/Endpoint.ts"
import { decidedEarly, type NodeObservation, type Observed } from "../domain/Health.ts"
import { type RoleReply, type SentinelMasterState } from "../domain/RedisReplies.ts"
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

/** Sentinels known: every one asked, and every one the local Sentinel counts. */
const knownOf = (asked: number, local: Observed<Option.Option<SentinelMasterState>> | undefined): number =>
  Math.max(asked, local?._tag === "Seen" ? Option.match(local.value, { onNone: () => 1, onSome: (m) => 1 + m.otherSentinels }) : 1)

/**
 * `peers`: the other sentinels to ask (the local one is always asked). Every sentinel
 * asked counts as known, and so does every one the local Sentinel counts, so one that
 * does not answer (or was not asked) weighs against a majority. The look ends as soon
 * as the answers decide the master whatever the others say and every peer not known
 * silent has answered or had `silentPeerAnswer` (a silent peer then costs at most that,
 * and is known silent from then on), else when every sentinel answered or the bound
 * passed, with what came. `silentBefore`: peers that did not answer the last look;
 * each gets `silentPeerAnswer` this time.
 */
export const observeNode = (
  peers: ReadonlyArray<Endpoint>,
  silentBefore: ReadonlyArray<Endpoint> = []
): Effect.Effect<NodeObservation, never, Settings | Redis | Sentinel> =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const redis = yield* Redis
    const sentinel = yield* Sentinel
    const { observation, silentPeerAnswer } = yield* Timings
    const local = selfSentinel(settings)
    const asked = uniqueEndpoints([local, ...peers])
    const silent = (what: string): Observed<never> => ({ _tag: "Unseen", reason: `${what}: no answer within ${Duration.format(observation)}` })

    const role = yield* Ref.make<Observed<RoleReply>>(silent("Redis"))
    const localSentinel = yield* Ref.make<Observed<Option.Option<SentinelMasterState>> | undefined>(undefined)
    const answers = yield* Ref.make<ReadonlyArray<Option.Option<Endpoint>>>([])
    const answered = yield* Ref.make<ReadonlyArray<Endpoint>>([])
    const wasSilent = new Set(silentBefore.map(formatEndpoint))
    const isFresh = (at: Endpoint) => sameEndpoint(at, local) || !wasSilent.has(formatEndpoint(at))
    const bounded = <A, E, R>(at: Endpoint, call: Effect.Effect<A, E, R>) =>
      !isFresh(at)
        ? call.pipe(Effect.timeoutOrElse({ duration: silentPeerAnswer, orElse: () => Effect.fail({ message: `no answer within ${Duration.format(silentPeerAnswer)} (silent before)` }) }))
        : call
    const decided = yield* Deferred.make<void>()
    const checkDecided = Effect.gen(function*() {
      const l = yield* Ref.get(localSentinel)
      if (l === undefined) return
      if (decidedEarly(yield* Ref.get(answers), knownOf(asked.length, l))) yield* Deferred.succeed(decided, undefined)
    })
    const freshUnsettled = yield* Ref.make(asked.filter(isFresh).length)
    const freshSettled = yield* Deferred.make<void>()
    const settled = (at: Endpoint) =>
      isFresh(at)
        ? Ref.updateAndGet(freshUnsettled, (n) => n - 1).pipe(Effect.flatMap((n) => (n === 0 ? Deferred.succeed(freshSettled, undefined) : Effect.void)))
        : Effect.void
    const askAll = Effect.forEach(asked, (at) =>
      seen(bounded(at, sentinel.masterAddress(at, settings.masterName))).pipe(
        Effect.flatMap((a) => (a._tag === "Seen" ? Effect.andThen(Ref.update(answers, (xs) => [...xs, a.value]), Ref.update(answered, (xs) => [...xs, at])) : Effect.void)),
        Effect.andThen(settled(at)),
        Effect.andThen(checkDecided)
      ), { concurrency: "unbounded", discard: true })
    // Every look may end early, not only once a peer is known silent: the first look
    // after a peer falls silent would otherwise wait for it a whole command bound, past
    // the lease of the look before, and a healthy master would lapse and be fenced for a
    // moment whenever one peer is cut off.
    const started = yield* Clock.currentTimeMillis
    const endEarly = Deferred.await(decided).pipe(
      Effect.andThen(Clock.currentTimeMillis),
      Effect.flatMap((now) => Effect.raceFirst(Deferred.await(freshSettled), Effect.sleep(Duration.millis(Math.max(0, started + Duration.toMillis(silentPeerAnswer) - now)))))
    )

    // Each call is bounded by its layer; the whole look once more, as a guard.
    yield* Effect.all([
      seen(redis.role(selfRedis(settings))).pipe(Effect.flatMap((r) => Ref.set(role, r))),
      seen(sentinel.master(local, settings.masterName)).pipe(Effect.flatMap((l) => Ref.set(localSentinel, l)), Effect.andThen(checkDecided)),
      Effect.raceFirst(askAll, endEarly)
    ], { concurrency: "unbounded", discard: true }).pipe(Effect.timeoutOrElse({ duration: observation, orElse: () => Effect.void }))

    const l = (yield* Ref.get(localSentinel)) ?? silent("Sentinel")
    const responded = yield* Ref.get(answered)
    return {
      self: selfRedis(settings),
      masterName: settings.masterName,
      role: yield* Ref.get(role),
      localSentinel: l,
      sentinels: {
        known: knownOf(asked.length, l),
        answers: yield* Ref.get(answers),
        silent: asked.filter((at) => !responded.some((r) => sameEndpoint(r, at)))
      }
    }
  })
