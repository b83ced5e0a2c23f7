// Helpers of the operator-control scenarios (switchover, pause): run `manage` as an
// operator would in a node's container, and read what Redis and Sentinel say.
import { execFile } from "node:child_process"
import { type Cluster, manageScript } from "./cluster/Cluster.ts"
import { redisOf, sentinelOf } from "./scenario.ts"

export interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** `manage <args>` with node i's environment, as an operator runs it in that container. */
export const manage = (c: Cluster, i: number, args: ReadonlyArray<string>): Promise<Run> =>
  new Promise((resolve) => {
    execFile(process.execPath, [manageScript, ...args], { env: c.node(i).env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout: String(stdout), stderr: String(stderr) })
    })
  })

export const priorityOf = async (c: Cluster, i: number): Promise<number> => {
  const client = redisOf(c, i)
  try {
    const reply = await client.call("CONFIG", "GET", "replica-priority")
    return Array.isArray(reply) ? Number(reply[1]) : Number.NaN
  } finally {
    client.disconnect()
  }
}

export const sentinelMasters = (c: Cluster, nodes: ReadonlyArray<number>): Promise<ReadonlyArray<string>> =>
  Promise.all(nodes.map(async (i) => {
    const client = sentinelOf(c, i)
    try {
      const reply = await client.call("SENTINEL", "get-master-addr-by-name", "mymaster")
      return Array.isArray(reply) ? String(reply[0]) : "none"
    } catch {
      return "down"
    } finally {
      client.disconnect()
    }
  }))

