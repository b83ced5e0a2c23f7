// The nodes Consul lists (as master or replica, in any state) and the names
// ContainerPilot registered them under: what the operator commands address nodes by.
import { Effect, Option } from "effect"
import { consulNames } from "../domain/ConsulNames.ts"
import { type Endpoint, sameEndpoint } from "../domain/Endpoint.ts"
import { Consul, endpointOf, type ServiceInstance } from "../layers/Consul.ts"
import { Settings } from "../layers/Settings.ts"

/** The node name an instance was registered under (`<service>-<hostname>`). */
export const nodeOf = (instances: ReadonlyArray<ServiceInstance>, at: Endpoint): Option.Option<string> =>
  Option.fromUndefinedOr(instances.find((i) => sameEndpoint(endpointOf(i), at) && i.id.startsWith(`${i.service}-`))).pipe(
    Option.map((i) => i.id.slice(i.service.length + 1))
  )

/** Every instance of the master and replica services, in any state. */
export const registeredRedis = Effect.gen(function*() {
  const settings = yield* Settings
  const consul = yield* Consul
  const names = consulNames(settings.serviceName)
  const [masters, replicas] = yield* Effect.all([consul.instances(names.masterService), consul.instances(names.replicaService)], { concurrency: 2 })
  return [...masters, ...replicas]
})
