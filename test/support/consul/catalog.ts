// The catalog, the servers' view that health and catalog endpoints read: one node
// (the agent's) with its serfHealth check and the `consul` service, plus whatever the
// agent syncs. Index rules follow Consul's state store: per-service indexes that
// checks also bump, an extinction index once a service's last instance goes, and
// unchanged writes that take no index.
import { isIPv4 } from "node:net"
import type { Raft, Tx } from "./raft.ts"

export type Status = "passing" | "warning" | "critical"

export const isStatus = (s: string): s is Status => s === "passing" || s === "warning" || s === "critical"

export interface ServiceDef {
  readonly id: string
  readonly name: string
  readonly tags: ReadonlyArray<string>
  readonly address: string
  readonly port: number
  readonly meta: Readonly<Record<string, string>>
  readonly enableTagOverride: boolean
  readonly weights: { readonly Passing: number; readonly Warning: number }
  readonly taggedAddresses: Readonly<Record<string, { readonly Address: string; readonly Port: number }>>
  readonly kind: string
}

export interface CheckDef {
  readonly checkId: string
  readonly name: string
  readonly status: Status
  readonly notes: string
  readonly output: string
  readonly serviceId: string
  readonly serviceName: string
  readonly serviceTags: ReadonlyArray<string>
  readonly type: string
  readonly interval: string
  readonly timeout: string
}

interface RaftIndexes {
  readonly createIndex: number
  readonly modifyIndex: number
}

type CatalogService = ServiceDef & RaftIndexes
type CatalogCheck = CheckDef & RaftIndexes

export interface NodeInfo {
  readonly id: string
  readonly name: string
  readonly address: string
}

export const SERF_HEALTH: CheckDef = {
  checkId: "serfHealth",
  name: "Serf Health Status",
  status: "passing",
  notes: "",
  output: "Agent alive and reachable",
  serviceId: "",
  serviceName: "",
  serviceTags: [],
  type: "",
  interval: "",
  timeout: ""
}

const CONSUL_SERVICE: ServiceDef = {
  id: "consul",
  name: "consul",
  tags: [],
  address: "",
  port: 8300,
  meta: {},
  enableTagOverride: false,
  weights: { Passing: 1, Warning: 1 },
  taggedAddresses: {},
  kind: ""
}

const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b))

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)

/** Tag filters match case-insensitively and need every tag. */
const hasTags = (service: ServiceDef, tags: ReadonlyArray<string>): boolean =>
  tags.every((tag) => service.tags.some((t) => t.toLowerCase() === tag.toLowerCase()))

/** health's filterNonPassing, including its habit of moving the last entry into a removed slot. */
const filterNonPassing = <A extends { readonly checks: ReadonlyArray<CheckDef> }>(entries: ReadonlyArray<A>): ReadonlyArray<A> => {
  const out = [...entries]
  let n = out.length
  for (let i = 0; i < n; i++) {
    const entry = out[i]
    if (entry !== undefined && entry.checks.some((c) => c.status !== "passing")) {
      const lastEntry = out[n - 1]
      if (lastEntry !== undefined) out[i] = lastEntry
      n--
      i--
    }
  }
  return out.slice(0, n)
}

export class Catalog {
  readonly node: NodeInfo & RaftIndexes
  private readonly services = new Map<string, CatalogService>()
  private readonly checks = new Map<string, CatalogCheck>()
  private readonly serviceIndexes = new Map<string, number>()
  private extinctionIndex = 0
  private nodesIndex = 0
  private servicesIndex = 0
  private checksIndex = 0
  /** Sessions linked to a check that turned critical or went away are invalidated in the same write. */
  onCheckDown: (index: number, node: string, checkId: string) => void = () => undefined

  constructor(raft: Raft, node: NodeInfo) {
    const tx = raft.begin()
    this.node = { ...node, createIndex: tx.index, modifyIndex: tx.index }
    this.nodesIndex = tx.index
    this.upsertService(raft.begin(), CONSUL_SERVICE)
    this.upsertCheck(raft.begin(), SERF_HEALTH)
  }

  private maxIndex(): number {
    return Math.max(this.nodesIndex, this.servicesIndex, this.checksIndex)
  }

  private touchService(name: string, index: number): void {
    if ([...this.services.values()].some((s) => s.name === name)) this.serviceIndexes.set(name, index)
    else if (this.serviceIndexes.delete(name)) this.extinctionIndex = index
  }

  private touchCheck(check: CheckDef, index: number): void {
    this.checksIndex = index
    if (check.serviceId !== "") {
      const service = this.services.get(check.serviceId)
      if (service !== undefined) this.touchService(service.name, index)
    } else {
      for (const name of new Set([...this.services.values()].map((s) => s.name))) this.touchService(name, index)
    }
  }

  upsertService(tx: Tx, def: ServiceDef): void {
    const existing = this.services.get(def.id)
    if (existing !== undefined && sameJson({ ...existing, createIndex: 0, modifyIndex: 0 }, { ...def, createIndex: 0, modifyIndex: 0 })) return
    const index = tx.index
    this.services.set(def.id, { ...def, createIndex: existing?.createIndex ?? index, modifyIndex: index })
    this.servicesIndex = index
    if (existing !== undefined && existing.name !== def.name) this.touchService(existing.name, index)
    this.touchService(def.name, index)
  }

  removeService(tx: Tx, id: string): void {
    const existing = this.services.get(id)
    if (existing === undefined) return
    for (const check of [...this.checks.values()]) if (check.serviceId === id) this.removeCheck(tx, check.checkId)
    this.services.delete(id)
    this.servicesIndex = tx.index
    this.touchService(existing.name, tx.index)
  }

  upsertCheck(tx: Tx, def: CheckDef): void {
    const existing = this.checks.get(def.checkId)
    if (existing !== undefined && sameJson({ ...existing, createIndex: 0, modifyIndex: 0 }, { ...def, createIndex: 0, modifyIndex: 0 })) return
    const index = tx.index
    this.checks.set(def.checkId, { ...def, createIndex: existing?.createIndex ?? index, modifyIndex: index })
    this.touchCheck(def, index)
    if (def.status === "critical") this.onCheckDown(index, this.node.name, def.checkId)
  }

  removeCheck(tx: Tx, checkId: string): void {
    const existing = this.checks.get(checkId)
    if (existing === undefined) return
    this.checks.delete(checkId)
    this.touchCheck(existing, tx.index)
    this.onCheckDown(tx.index, this.node.name, checkId)
  }

  checkStatus(node: string, checkId: string): Status | undefined {
    return node === this.node.name ? this.checks.get(checkId)?.status : undefined
  }

  // --- reads, each with the index Consul reports for it ---

  private serviceIndex(name: string): number {
    return Math.max(1, this.serviceIndexes.get(name) ?? (this.extinctionIndex > 0 ? this.extinctionIndex : this.maxIndex()))
  }

  private instances(name: string, tags: ReadonlyArray<string>): ReadonlyArray<CatalogService> {
    return [...this.services.values()].filter((s) => s.name === name && hasTags(s, tags)).sort((a, b) => byteOrder(a.id, b.id))
  }

  private checksOf(serviceId: string): ReadonlyArray<CatalogCheck> {
    return [...this.checks.values()].filter((c) => c.serviceId === serviceId).sort((a, b) => byteOrder(a.checkId, b.checkId))
  }

  healthService(name: string, tags: ReadonlyArray<string>, passingOnly: boolean): { index: number; value: ReadonlyArray<unknown> } {
    const entries = this.instances(name, tags).map((service) => ({
      service,
      checks: [...this.checksOf(""), ...this.checksOf(service.id)]
    }))
    const kept = passingOnly ? filterNonPassing(entries) : entries
    return {
      index: this.serviceIndex(name),
      value: kept.map((e) => ({ Node: this.renderNode(), Service: renderService(e.service), Checks: e.checks.map(this.renderCheck) }))
    }
  }

  healthChecks(name: string): { index: number; value: ReadonlyArray<unknown> } {
    const checks = this.instances(name, []).flatMap((s) => this.checksOf(s.id))
    return { index: this.serviceIndex(name), value: checks.map(this.renderCheck) }
  }

  healthState(state: Status | "any"): { index: number; value: ReadonlyArray<unknown> } {
    const checks = [...this.checks.values()]
      .filter((c) => state === "any" || c.status === state)
      .sort((a, b) => byteOrder(a.checkId, b.checkId))
    return { index: Math.max(1, this.checksIndex), value: checks.map(this.renderCheck) }
  }

  healthNode(node: string): { index: number; value: ReadonlyArray<unknown> } {
    const checks = node === this.node.name ? [...this.checks.values()].sort((a, b) => byteOrder(a.checkId, b.checkId)) : []
    return { index: Math.max(1, this.checksIndex), value: checks.map(this.renderCheck) }
  }

  catalogServices(): { index: number; value: Record<string, ReadonlyArray<string>> } {
    const out: Record<string, Array<string>> = {}
    for (const s of [...this.services.values()].sort((a, b) => byteOrder(a.name, b.name))) {
      const tags = (out[s.name] ??= [])
      for (const t of s.tags) if (!tags.includes(t)) tags.push(t)
    }
    for (const tags of Object.values(out)) tags.sort(byteOrder)
    return { index: Math.max(1, this.servicesIndex), value: out }
  }

  catalogService(name: string, tags: ReadonlyArray<string>): { index: number; value: ReadonlyArray<unknown> } {
    const node = this.renderNode()
    return {
      index: this.serviceIndex(name),
      value: this.instances(name, tags).map((s) => ({
        ID: node.ID,
        Node: node.Node,
        Address: node.Address,
        Datacenter: node.Datacenter,
        TaggedAddresses: node.TaggedAddresses,
        NodeMeta: node.Meta,
        ServiceKind: s.kind,
        ServiceID: s.id,
        ServiceName: s.name,
        ServiceTags: [...s.tags],
        ServiceAddress: s.address,
        ...(Object.keys(s.taggedAddresses).length > 0 ? { ServiceTaggedAddresses: s.taggedAddresses } : {}),
        ServiceWeights: s.weights,
        ServiceMeta: s.meta,
        ServicePort: s.port,
        ServiceEnableTagOverride: s.enableTagOverride,
        ServiceProxy: { Mode: "", MeshGateway: {}, Expose: {} },
        ServiceConnect: {},
        CreateIndex: s.createIndex,
        ModifyIndex: s.modifyIndex
      }))
    }
  }

  catalogNodes(): { index: number; value: ReadonlyArray<unknown> } {
    return { index: Math.max(1, this.nodesIndex), value: [this.renderNode()] }
  }

  catalogNode(name: string): { index: number; value: unknown } {
    if (name !== this.node.name) return { index: Math.max(1, this.maxIndex()), value: null }
    const services: Record<string, unknown> = {}
    for (const s of [...this.services.values()].sort((a, b) => byteOrder(a.id, b.id))) services[s.id] = renderService(s)
    return { index: Math.max(1, this.maxIndex()), value: { Node: this.renderNode(), Services: services } }
  }

  renderNode() {
    const a = this.node.address
    return {
      ID: this.node.id,
      Node: this.node.name,
      Address: a,
      Datacenter: "dc1",
      TaggedAddresses: { lan: a, lan_ipv4: a, wan: a, wan_ipv4: a },
      Meta: { "consul-network-segment": "" },
      CreateIndex: this.node.createIndex,
      ModifyIndex: this.node.modifyIndex
    }
  }

  private readonly renderCheck = (c: CatalogCheck): Record<string, unknown> => ({
    ...renderCheckDef(this.node.name, c),
    CreateIndex: c.createIndex,
    ModifyIndex: c.modifyIndex
  })
}

export const renderCheckDef = (node: string, c: CheckDef): Record<string, unknown> => ({
  Node: node,
  CheckID: c.checkId,
  Name: c.name,
  Status: c.status,
  Notes: c.notes,
  Output: c.output,
  ServiceID: c.serviceId,
  ServiceName: c.serviceName,
  ServiceTags: [...c.serviceTags],
  Type: c.type,
  Interval: c.interval,
  Timeout: c.timeout,
  ExposedPort: 0,
  Definition: {}
})

export const renderService = (s: CatalogService): Record<string, unknown> => ({
  ...(s.kind !== "" ? { Kind: s.kind } : {}),
  ID: s.id,
  Service: s.name,
  Tags: [...s.tags],
  Address: s.address,
  ...(Object.keys(s.taggedAddresses).length > 0 ? { TaggedAddresses: s.taggedAddresses } : {}),
  Meta: s.meta,
  Port: s.port,
  Weights: s.weights,
  EnableTagOverride: s.enableTagOverride,
  Proxy: { Mode: "", MeshGateway: {}, Expose: {} },
  Connect: {},
  CreateIndex: s.createIndex,
  ModifyIndex: s.modifyIndex
})

/** What the agent adds to an IPv4 service address (lan_ipv4/wan_ipv4) unless given. */
export const defaultTaggedAddresses = (
  address: string,
  port: number,
  given: Readonly<Record<string, { readonly Address: string; readonly Port: number }>>
): Readonly<Record<string, { readonly Address: string; readonly Port: number }>> =>
  Object.fromEntries(
    Object.entries(isIPv4(address) ? { lan_ipv4: { Address: address, Port: port }, wan_ipv4: { Address: address, Port: port }, ...given } : given)
      .sort(([a], [b]) => byteOrder(a, b))
  )
