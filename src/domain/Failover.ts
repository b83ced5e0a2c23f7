// What Sentinel's client-reconfig-script is told, and how the registry must change so
// Consul shows the new master at once instead of after a TTL lapses (DESIGN.md §4).
import { Result } from "effect"
import { checkId, serviceId } from "./ConsulNames.ts"
import { type Endpoint, formatEndpoint, sameEndpoint } from "./Endpoint.ts"
import { isIPv4 } from "./EnvValue.ts"

/** `<master-name> <role> <state> <from-ip> <from-port> <to-ip> <to-port>` */
export interface FailoverEvent {
  readonly masterName: string
  readonly role: string
  readonly state: string
  readonly from: Endpoint
  readonly to: Endpoint
}

const port = (text: string | undefined): number | undefined =>
  text !== undefined && /^\d{1,5}$/.test(text) && Number(text) >= 1 && Number(text) <= 65_535 ? Number(text) : undefined

export const parseFailoverArgs = (args: ReadonlyArray<string>): Result.Result<FailoverEvent, string> => {
  const [masterName, role, state, fromHost, fromPort, toHost, toPort, ...rest] = args
  const from = port(fromPort)
  const to = port(toPort)
  if (
    masterName === undefined || role === undefined || state === undefined || rest.length > 0 ||
    fromHost === undefined || !isIPv4(fromHost) || from === undefined ||
    toHost === undefined || !isIPv4(toHost) || to === undefined
  ) {
    return Result.fail(`expected <master-name> <role> <state> <from-ip> <from-port> <to-ip> <to-port>, got ${JSON.stringify(args)}`)
  }
  return Result.succeed({ masterName, role, state, from: { host: fromHost, port: from }, to: { host: toHost, port: to } })
}

export interface RegisteredInstance {
  readonly id: string
  readonly address: string
  readonly port: number
  readonly checkIds: ReadonlyArray<string>
}

export type RegistryAction =
  /** Mark this node passing as master, registering it first if ContainerPilot never did. */
  | { readonly _tag: "PassOwnMaster"; readonly serviceId: string; readonly reason: string }
  | { readonly _tag: "FailCheck"; readonly checkId: string; readonly reason: string }

/**
 * Every node's script runs with the same arguments. Each node marks itself (the one
 * promoted passes as master and stops passing as replica); every node also fails the
 * old master's `redis` check on the agent it talks to, because a dead master cannot.
 */
export const failoverRegistry = (input: {
  readonly event: FailoverEvent
  readonly self: Endpoint
  readonly hostname: string
  readonly masterService: string
  readonly replicaService: string
  /** Instances of the master service registered on the agent this node talks to. */
  readonly registeredMasters: ReadonlyArray<RegisteredInstance>
  /** This node's Redis answers ROLE master right now. */
  readonly selfIsMaster: boolean
}): ReadonlyArray<RegistryAction> => {
  const { event, self } = input
  const actions: Array<RegistryAction> = []
  const change = `failover of ${event.masterName} from ${formatEndpoint(event.from)} to ${formatEndpoint(event.to)}`
  if (sameEndpoint(event.to, self)) {
    if (input.selfIsMaster) {
      actions.push({ _tag: "PassOwnMaster", serviceId: serviceId(input.masterService, input.hostname), reason: change })
    }
    actions.push({ _tag: "FailCheck", checkId: checkId(serviceId(input.replicaService, input.hostname)), reason: `promoted: ${change}` })
  }
  const old = input.registeredMasters.filter((i) => sameEndpoint({ host: i.address, port: i.port }, event.from))
  for (const instance of old) {
    for (const id of instance.checkIds.filter((c) => c.startsWith("service:"))) {
      actions.push({ _tag: "FailCheck", checkId: id, reason: `demoted: ${change}` })
    }
  }
  if (sameEndpoint(event.from, self) && old.length === 0) {
    actions.push({ _tag: "FailCheck", checkId: checkId(serviceId(input.masterService, input.hostname)), reason: `demoted: ${change}` })
  }
  return actions
}
