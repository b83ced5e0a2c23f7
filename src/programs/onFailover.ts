// `manage on-failover <sentinel args>`: Sentinel's client-reconfig-script. Turns the
// registry over right away (DESIGN.md §4). Best effort and bounded: it never fails a
// failover, so every error is logged and the exit code stays 0.
import { Duration, Effect, Result } from "effect"
import { consulNames } from "../domain/ConsulNames.ts"
import { failoverRegistry, parseFailoverArgs } from "../domain/Failover.ts"
import { selfRedis } from "../domain/Settings.ts"
import { Timings } from "../domain/Timings.ts"
import { Consul } from "../layers/Consul.ts"
import { Redis } from "../layers/Redis.ts"
import { Settings } from "../layers/Settings.ts"
import { UsageError } from "./UsageError.ts"

export const onFailover = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const consul = yield* Consul
    const redis = yield* Redis
    const { failoverRegistry: budget } = yield* Timings
    const event = parseFailoverArgs(args)
    if (Result.isFailure(event)) return yield* new UsageError({ detail: `on-failover: ${event.failure}` })
    const names = consulNames(settings.serviceName)
    const self = selfRedis(settings)
    yield* Effect.log(`Sentinel (${event.success.role}, ${event.success.state}): ${event.success.masterName} moved from ${event.success.from.host}:${event.success.from.port} to ${event.success.to.host}:${event.success.to.port}`)

    const update = Effect.gen(function*() {
      const [role, masters] = yield* Effect.all([
        redis.role(self).pipe(Effect.option),
        consul.instances(names.masterService).pipe(Effect.orElseSucceed(() => []))
      ], { concurrency: 2 })
      const actions = failoverRegistry({
        event: event.success,
        self,
        hostname: settings.node.name,
        masterService: names.masterService,
        replicaService: names.replicaService,
        registeredMasters: masters.map((m) => ({ id: m.id, address: m.address, port: m.port, checkIds: m.checks.map((c) => c.checkId) })),
        selfIsMaster: role._tag === "Some" && role.value._tag === "Master"
      })
      yield* Effect.forEach(actions, (action) => {
        switch (action._tag) {
          case "PassOwnMaster":
            return consul.setCheck(`service:${action.serviceId}`, "passing", action.reason).pipe(
              Effect.flatMap((known) =>
                known
                  ? Effect.void
                  : consul.register({ id: action.serviceId, name: names.masterService, address: self.host, port: self.port, ttl: settings.health.ttl })
              ),
              Effect.tap(() => Effect.log(`registered ${action.serviceId} passing as ${names.masterService}`))
            )
          case "FailCheck":
            return consul.setCheck(action.checkId, "critical", action.reason).pipe(
              Effect.tap((known) => (known ? Effect.log(`failed ${action.checkId}: ${action.reason}`) : Effect.void))
            )
        }
      }, { concurrency: "unbounded", discard: true })
    })

    yield* update.pipe(
      Effect.timeoutOrElse({ duration: budget, orElse: () => Effect.logWarning(`registry update did not finish within ${Duration.format(budget)}`) }),
      Effect.catch((e) => Effect.logWarning(`registry update incomplete, the health checks will catch up: ${e.message}`))
    )
  })
