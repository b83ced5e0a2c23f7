// This node's announcement while pre-start chooses a role (DESIGN.md §5): a key under
// `service/<name>/starting/` held by a session of its own, renewed while pre-start
// runs and destroyed when the caller's scope ends (Behavior delete: the key goes with
// it; a killed pre-start's key lapses with its session, within 2×TTL). It says whether
// this node holds data and when that was last written, so the others can rank it: nodes
// starting at once cannot probe each other's Redis, which runs only after pre-start.
import { Clock, Duration, Effect, Option, Ref, Scope } from "effect"
import { consulNames } from "../domain/ConsulNames.ts"
import { announcementOf, type Candidate } from "../domain/Founding.ts"
import { Timings } from "../domain/Timings.ts"
import { Consul, type ConsulError } from "../layers/Consul.ts"
import { Settings } from "../layers/Settings.ts"
import { keepAlive } from "./sessions.ts"

export interface Announcer {
  /**
   * Makes sure the announcement is visible (again, if its session was lost): since when
   * this node has been announced, or None when another session holds its key and
   * could not be ended.
   */
  readonly ensure: Effect.Effect<Option.Option<number>, ConsulError>
}

export const announce = (me: Candidate): Effect.Effect<Announcer, never, Settings | Consul | Scope.Scope> =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const consul = yield* Consul
    const timings = yield* Timings
    // Renewals live as long as the caller's scope, however late the first announcement succeeds.
    const scope = yield* Effect.scope
    const key = `${consulNames(settings.serviceName).starting}${me.node}`
    const value = JSON.stringify(announcementOf(me))
    const current = yield* Ref.make(Option.none<{ readonly session: string; readonly lost: Ref.Ref<boolean> }>())
    const since = yield* Ref.make(Option.none<number>())
    yield* Effect.addFinalizer(() =>
      Ref.get(current).pipe(Effect.flatMap(Option.match({ onNone: () => Effect.void, onSome: (c) => consul.destroySession(c.session).pipe(Effect.ignore) })))
    )

    const acquire = (session: string) =>
      Effect.gen(function*() {
        if (yield* consul.acquire(key, value, session)) return true
        // Held by this node's previous pre-start, killed before it could end its session.
        const stale = Option.flatMap(yield* consul.get(key), (e) => e.session)
        if (Option.isNone(stale) || stale.value === session) return false
        yield* Effect.log(`ending session ${stale.value}, which still holds ${key} from an earlier start of this node`)
        yield* consul.destroySession(stale.value)
        return yield* consul.acquire(key, value, session)
      })

    const ensure = Effect.gen(function*() {
      const now = yield* Ref.get(current)
      if (Option.isSome(now) && !(yield* Ref.get(now.value.lost))) return yield* Ref.get(since)
      // Lock-delay 0: a restarted node may announce itself again at once.
      const session = yield* consul.createSession({
        name: `${settings.serviceName} starting ${me.node}`,
        ttl: timings.lockSessionTtl,
        lockDelay: Duration.zero,
        behavior: "delete"
      })
      // A session that holds nothing is given back at once, also when Consul failed part-way.
      const giveBack = consul.destroySession(session).pipe(Effect.ignore)
      if (!(yield* acquire(session).pipe(Effect.onError(() => giveBack)))) {
        yield* giveBack
        return Option.none()
      }
      const lost = yield* keepAlive(session, timings.lockRenewEvery).pipe(Scope.provide(scope), Effect.provideService(Consul, consul))
      yield* Ref.set(current, Option.some({ session, lost }))
      const at = yield* Clock.currentTimeMillis
      return yield* Ref.updateAndGet(since, (s) => (Option.isSome(s) ? s : Option.some(at)))
    })
    return { ensure }
  })
