// Keeping a Consul session alive while a long step runs (a restore, an upload). The
// renewal fiber lives in the caller's scope; `lost` turns true once Consul says the
// session is gone, and the caller decides what that means before acting on the lock.
import { Duration, Effect, Ref, Schedule, type Scope } from "effect"
import { Consul } from "../layers/Consul.ts"

export const keepAlive = (
  session: string,
  every: Duration.Duration
): Effect.Effect<Ref.Ref<boolean>, never, Consul | Scope.Scope> =>
  Effect.gen(function*() {
    const consul = yield* Consul
    const lost = yield* Ref.make(false)
    const renew = consul.renewSession(session).pipe(
      Effect.flatMap((alive) => (alive ? Effect.void : Ref.set(lost, true))),
      Effect.catch((e) => Effect.logWarning(`could not renew session ${session}: ${e.message}`))
    )
    yield* renew.pipe(Effect.repeat(Schedule.spaced(every)), Effect.forkScoped)
    return lost
  })
