// The Consul contract (DESIGN.md §3): every service, check and key name operators and
// clients depend on, derived from SERVICE_NAME in one place.
import { Schema } from "effect"

export interface ConsulNames {
  readonly masterService: string
  readonly replicaService: string
  readonly sentinelService: string
  readonly masterLock: string
  readonly backupLock: string
  readonly lastBackup: string
  /** Prefix of `quorum`, `down-after`, `failover-timeout` overrides. */
  readonly sentinelTuning: string
  /** When and where a sentinel was last reset, claimed by CAS (one reset at a time). */
  readonly sentinelReset: string
  /** Maintenance: while present, handlers and agents change nothing (DESIGN.md §3). */
  readonly paused: string
  /** The cluster's record: founded when and by whom, whether it ever held data, the last master seen (DESIGN.md §5). */
  readonly cluster: string
  /**
   * Prefix of the announcements of starting nodes (`<prefix><node>`), each held by its
   * pre-start's session, so it disappears with it (DESIGN.md §5).
   */
  readonly starting: string
}

export const consulNames = (serviceName: string): ConsulNames => ({
  masterService: serviceName,
  replicaService: `${serviceName}-replica`,
  sentinelService: `${serviceName}-sentinel`,
  masterLock: `service/${serviceName}/locks/master`,
  backupLock: `service/${serviceName}/locks/backup`,
  lastBackup: `service/${serviceName}/last-backup`,
  sentinelTuning: `service/${serviceName}-sentinel/`,
  sentinelReset: `service/${serviceName}/sentinel-reset`,
  paused: `service/${serviceName}/paused`,
  cluster: `service/${serviceName}/cluster`,
  starting: `service/${serviceName}/starting/`
})

/** The status of a Consul check. */
export type CheckStatus = "passing" | "warning" | "critical"

/** ContainerPilot registers each advertised job as `<job>-<hostname>` with one TTL check `service:<id>`. */
export const serviceId = (service: string, hostname: string): string => `${service}-${hostname}`
export const checkId = (id: string): string => `service:${id}`

/** Value of the bootstrap and backup locks: who holds it, for operators and for peers to probe. */
export const LockHolder = Schema.Struct({ node: Schema.String, address: Schema.String, port: Schema.Int })
export type LockHolder = typeof LockHolder.Type
export const LockHolderFromJson = Schema.fromJsonString(LockHolder)
