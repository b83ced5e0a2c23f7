// Keeping Consul true to this node (DESIGN.md §1, §3): from the verdicts and what the
// Consul agent holds now, which checks to pass or fail, which lost registrations to
// restore, and which other node's `redis` check to fail because this node is the
// master now. The status Consul shows is compared with the verdict every time, so a
// lost update, a TTL lapse or a Consul that forgot everything heals by itself.
import { checkId, type CheckStatus, serviceId } from "./ConsulNames.ts"
import { type CheckName, checkNames, type Verdict } from "./Health.ts"

/** One of this node's three registrations, named as ContainerPilot names them. */
export interface OwnService {
  readonly check: CheckName
  readonly service: string
  /** `<job>-<hostname>` */
  readonly serviceId: string
  /** `service:<serviceId>` */
  readonly checkId: string
  readonly port: number
}

export const ownServices = (input: {
  readonly masterService: string
  readonly replicaService: string
  readonly sentinelService: string
  readonly hostname: string
  readonly redisPort: number
  readonly sentinelPort: number
}): Readonly<Record<CheckName, OwnService>> => {
  const make = (check: CheckName, service: string, port: number): OwnService => {
    const id = serviceId(service, input.hostname)
    return { check, service, serviceId: id, checkId: checkId(id), port }
  }
  return {
    master: make("master", input.masterService, input.redisPort),
    replica: make("replica", input.replicaService, input.redisPort),
    sentinel: make("sentinel", input.sentinelService, input.sentinelPort)
  }
}

export interface RegistryView {
  readonly verdicts: Readonly<Record<CheckName, Verdict>>
  /** Status of each check registered on the Consul agent, by check id. */
  readonly agentChecks: ReadonlyMap<string, CheckStatus>
  /** This node's checks that were registered at some point since the agent started. */
  readonly everRegistered: ReadonlySet<CheckName>
  /** Other nodes' master-service checks that are passing: (check id, where that node is). */
  readonly otherPassingMasters: ReadonlyArray<{ readonly checkId: string; readonly at: string }>
}

export type RegistryAction =
  | { readonly _tag: "FailOther"; readonly checkId: string; readonly reason: string }
  | { readonly _tag: "Register"; readonly check: CheckName; readonly status: CheckStatus; readonly reason: string }
  | { readonly _tag: "Set"; readonly check: CheckName; readonly status: CheckStatus; readonly reason: string }

const statusOf = (v: Verdict): CheckStatus => (v.pass ? "passing" : "critical")

/**
 * Failing comes before passing, and another node's stale master check is failed
 * before this node's passes, so Consul never shows two masters passing.
 */
export const decideRegistry = (own: Readonly<Record<CheckName, OwnService>>, view: RegistryView): ReadonlyArray<RegistryAction> => {
  const actions: Array<RegistryAction> = []
  if (view.verdicts.master.pass) {
    for (const other of view.otherPassingMasters) {
      actions.push({ _tag: "FailOther", checkId: other.checkId, reason: `this node (${own.master.serviceId}) is the master now; ${other.at} is not` })
    }
  }
  for (const check of checkNames) {
    const verdict = view.verdicts[check]
    const desired = statusOf(verdict)
    const current = view.agentChecks.get(own[check].checkId)
    if (current === undefined) {
      // ContainerPilot registers a service only after its first passing check and never
      // again once Consul lost it: a passing one, or one that existed, is restored.
      if (verdict.pass || view.everRegistered.has(check)) {
        actions.push({ _tag: "Register", check, status: desired, reason: verdict.reason })
      }
    } else if (current !== desired) {
      actions.push({ _tag: "Set", check, status: desired, reason: verdict.reason })
    }
  }
  const rank = (a: RegistryAction): number => (a._tag === "FailOther" ? 0 : a.status === "passing" ? 2 : 1)
  return actions.sort((a, b) => rank(a) - rank(b))
}
