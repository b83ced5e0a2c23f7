// Asking the sentinels registered in Consul what they see, all at once. A sentinel
// that does not answer is an observation (`answered: false`), never a failure: the
// callers count majorities over everything registered.
import { Effect, Option } from "effect"
import { type Endpoint } from "../domain/Endpoint.ts"
import { endpointOf, type ServiceInstance } from "../layers/Consul.ts"
import { Sentinel } from "../layers/Sentinel.ts"
import { Settings } from "../layers/Settings.ts"

export interface SentinelAnswer {
  readonly instance: ServiceInstance
  readonly answered: boolean
  /** The master it reports for MASTER_NAME; None when it did not answer or does not know the name. */
  readonly master: Option.Option<Endpoint>
  /** The replicas it knows (asked only when `withReplicas`). */
  readonly replicas: ReadonlyArray<Endpoint>
}

export const askSentinels = (
  instances: ReadonlyArray<ServiceInstance>,
  options: { readonly withReplicas: boolean }
): Effect.Effect<ReadonlyArray<SentinelAnswer>, never, Settings | Sentinel> =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const sentinel = yield* Sentinel
    return yield* Effect.forEach(instances, (instance) =>
      Effect.all([
        sentinel.masterAddress(endpointOf(instance), settings.masterName).pipe(Effect.option),
        options.withReplicas
          ? sentinel.replicas(endpointOf(instance), settings.masterName).pipe(
            Effect.map((peers) => peers.map((p) => p.endpoint)),
            Effect.orElseSucceed((): ReadonlyArray<Endpoint> => [])
          )
          : Effect.succeed<ReadonlyArray<Endpoint>>([])
      ], { concurrency: 2 }).pipe(
        Effect.map(([master, replicas]) => ({ instance, answered: Option.isSome(master), master: Option.flatten(master), replicas }))
      ), { concurrency: "unbounded" })
  })
