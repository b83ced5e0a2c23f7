// Asking the sentinels registered in Consul (or any sentinel, by address) what they
// see, all at once. A sentinel that does not answer is an observation
// (`answered: false`), never a failure: the callers count majorities over everything
// registered.
import { Effect, Option } from "effect"
import { type Endpoint } from "../domain/Endpoint.ts"
import { endpointOf, type ServiceInstance } from "../layers/Consul.ts"
import { Sentinel } from "../layers/Sentinel.ts"
import { Settings } from "../layers/Settings.ts"

export interface SentinelView {
  readonly answered: boolean
  /** The master it reports for MASTER_NAME; None when it did not answer or does not know the name. */
  readonly master: Option.Option<Endpoint>
  /** The replicas it knows (asked only when `withReplicas`). */
  readonly replicas: ReadonlyArray<Endpoint>
  /** The other sentinels it knows (asked only when `withSentinels`). */
  readonly sentinels: ReadonlyArray<Endpoint>
}

export interface SentinelAnswer extends SentinelView {
  readonly instance: ServiceInstance
}

export interface AskOptions {
  readonly withReplicas: boolean
  readonly withSentinels?: boolean
}

/** One sentinel, by address. */
export const askSentinelAt = (at: Endpoint, options: AskOptions): Effect.Effect<SentinelView, never, Settings | Sentinel> =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const sentinel = yield* Sentinel
    const peers = (ask: boolean, list: (at: Endpoint, name: string) => Effect.Effect<ReadonlyArray<{ readonly endpoint: Endpoint }>, unknown>) =>
      ask
        ? list(at, settings.masterName).pipe(
          Effect.map((found) => found.map((p) => p.endpoint)),
          Effect.orElseSucceed((): ReadonlyArray<Endpoint> => [])
        )
        : Effect.succeed<ReadonlyArray<Endpoint>>([])
    const [master, replicas, sentinels] = yield* Effect.all([
      sentinel.masterAddress(at, settings.masterName).pipe(Effect.option),
      peers(options.withReplicas, sentinel.replicas),
      peers(options.withSentinels === true, sentinel.sentinels)
    ], { concurrency: 3 })
    return { answered: Option.isSome(master), master: Option.flatten(master), replicas, sentinels }
  })

export const askSentinels = (
  instances: ReadonlyArray<ServiceInstance>,
  options: AskOptions
): Effect.Effect<ReadonlyArray<SentinelAnswer>, never, Settings | Sentinel> =>
  Effect.forEach(instances, (instance) => askSentinelAt(endpointOf(instance), options).pipe(Effect.map((view) => ({ ...view, instance }))), {
    concurrency: "unbounded"
  })
