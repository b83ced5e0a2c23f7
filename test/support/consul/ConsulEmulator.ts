// A test emulator of the Consul HTTP API subset this project uses, faithful to
// /work/shared/reference/consul-api.md and, where that is silent or wrong, to
// Consul's source: one agent node (a server, so it is also the leader) with
// services and TTL checks, health and catalog reads, KV with cas/acquire/release,
// sessions with TTL, lock-delay and release/delete behaviour, and blocking queries.
// Fault modes and a manual clock serve the tests; test/support/consul/contract.ts
// is the suite it shares with a real Consul.
import { randomUUID } from "node:crypto"
import { Agent } from "./agent.ts"
import { Catalog } from "./catalog.ts"
import { type Clock, manualClock, type ManualClock, realClock } from "./clock.ts"
import { HttpFront } from "./http.ts"
import { KvStore } from "./kv.ts"
import { Raft } from "./raft.ts"
import { SessionStore } from "./sessions.ts"

export interface ConsulEmulatorOptions {
  /** Default "127.0.0.1". */
  readonly host?: string
  /** Default 0 (a random free port); the cluster runner uses 8500. */
  readonly port?: number
  /** The agent's node, default "consul". */
  readonly nodeName?: string
  /** When set, requests without this X-Consul-Token (or ?token=) get 403 (status endpoints excepted). */
  readonly aclToken?: string
  /** manual: time only moves with advance(). Default real. */
  readonly clock?: "real" | "manual"
}

export type ConsulEmulatorMode = "normal" | "down" | "hang" | "garbage"

export interface ConsulEmulator {
  readonly host: string
  readonly port: number
  /** "host:port" */
  readonly address: string
  /**
   * Fault injection; state (KV, sessions, services) survives every mode change.
   * down: stop listening (connections refused) and drop open sockets.
   * hang: accept connections and never answer; held sockets are dropped when the mode changes or on close.
   * garbage: answer every request 200 with `{"garbage":` (application/json), without acting on it.
   */
  setMode(mode: ConsulEmulatorMode): Promise<void>
  /**
   * Consul lost its whole state (a server replaced, its volume gone): services, checks,
   * KV, sessions and indexes start from nothing, and open connections drop.
   */
  restartEmpty(): Promise<void>
  /** Manual clock only: moves time, firing TTL expiries, session invalidation, lock-delay ends, blocking-query timeouts. */
  advance(ms: number): void
  services(): ReadonlyArray<{
    id: string
    name: string
    address: string
    port: number
    checks: ReadonlyArray<{ checkId: string; status: "passing" | "warning" | "critical"; output: string }>
  }>
  kv(key: string): { value: string | null; session?: string; lockIndex: number; modifyIndex: number } | undefined
  close(): Promise<void>
}

export const startConsulEmulator = async (options: ConsulEmulatorOptions = {}): Promise<ConsulEmulator> => {
  const host = options.host ?? "127.0.0.1"
  const nodeName = options.nodeName ?? "consul"
  const manual: ManualClock | undefined = options.clock === "manual" ? manualClock() : undefined
  const clock: Clock = manual ?? realClock()
  // The node advertises a routable address even when the emulator listens on all interfaces.
  const nodeAddress = host === "" || host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host

  const fresh = () => {
    const raft = new Raft(1)
    const catalog = new Catalog(raft, { id: randomUUID(), name: nodeName, address: nodeAddress })
    const kv: KvStore = new KvStore(raft, clock, (id) => sessions.exists(id))
    const sessions: SessionStore = new SessionStore(
      raft,
      clock,
      kv,
      { statusOf: (node, checkId) => catalog.checkStatus(node, checkId), nodeExists: (node) => node === nodeName },
      nodeName
    )
    catalog.onCheckDown = (index, node, checkId) => void sessions.invalidateByCheck(index, node, checkId)
    const agent = new Agent(raft, clock, catalog)
    return { raft, catalog, kv, sessions, agent }
  }
  let state = fresh()
  const front = new HttpFront({ ...state, aclToken: options.aclToken }, clock, state.raft, host, options.port ?? 0)
  await front.listen()

  let closed = false
  const port = front.port
  return {
    host,
    port,
    address: `${host}:${port}`,
    setMode: async (mode) => {
      if (closed) throw new Error("setMode: the Consul emulator is closed")
      await front.setMode(mode)
    },
    restartEmpty: async () => {
      if (closed) throw new Error("restartEmpty: the Consul emulator is closed")
      state.agent.stopTimers()
      state.sessions.cancelTimers()
      state = fresh()
      await front.replaceBackend({ ...state, aclToken: options.aclToken }, state.raft)
    },
    advance: (ms) => {
      if (manual === undefined) throw new Error("advance() needs a Consul emulator started with clock: \"manual\"")
      manual.advance(ms)
    },
    services: () => state.agent.view(),
    kv: (key) => {
      const e = state.kv.entry(key)
      if (e === undefined) return undefined
      return {
        value: e.value === null ? null : e.value.toString("utf8"),
        ...(e.session !== undefined ? { session: e.session } : {}),
        lockIndex: e.lockIndex,
        modifyIndex: e.modifyIndex
      }
    },
    close: async () => {
      if (closed) return
      closed = true
      state.agent.stopTimers()
      state.sessions.cancelTimers()
      clock.cancelAll()
      await front.close()
    }
  }
}
