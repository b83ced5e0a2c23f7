// The Consul contract on a real agent: set CONSUL_HTTP_ADDR (host:port, as the
// consul CLI takes it) and, with ACLs on, CONSUL_HTTP_TOKEN. Time passes for real
// here, so the TTL and lock-delay tests sleep (about two minutes in all). Names are
// unique per run and cleaned up, so a shared agent is fine.
import { describe } from "vitest"
import { consulContract } from "../support/consul/contract.ts"

const address = process.env.CONSUL_HTTP_ADDR
const token = process.env.CONSUL_HTTP_TOKEN

/** "host:port", "http://host:port" or "[::1]:8500" (brackets kept: both clients build URLs from it); the port defaults to 8500. */
const hostAndPort = (value: string): { host: string; port: number } => {
  const bare = value.replace(/^https?:\/\//, "").replace(/\/+$/, "")
  const match = /^(.*):(\d+)$/.exec(bare)
  return match === null ? { host: bare, port: 8500 } : { host: match[1] ?? bare, port: Number(match[2]) }
}

describe.skipIf(!address)("Consul contract on a real agent (CONSUL_HTTP_ADDR)", () => {
  const { host, port } = hostAndPort(address ?? "127.0.0.1:8500")
  consulContract("real consul", {
    host,
    port,
    ...(token !== undefined && token !== "" ? { token } : {}),
    advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms))
  })
})
