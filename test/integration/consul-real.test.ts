// The Consul contract on a real agent: the one CONSUL_BIN names (started here, in
// dev mode, on an address of its own) or, without it, the one at CONSUL_HTTP_ADDR
// (host:port, as the consul CLI takes it; with ACLs on, CONSUL_HTTP_TOKEN). Time passes
// for real here, so the TTL and lock-delay tests sleep (about two minutes in all).
// Names are unique per run and cleaned up, so a shared agent is fine.
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe } from "vitest"
import { consulContract } from "../support/consul/contract.ts"
import { type RealConsul, startRealConsul } from "../support/consul/RealConsul.ts"

const bin = process.env.CONSUL_BIN
const given = process.env.CONSUL_HTTP_ADDR

/** "host:port", "http://host:port" or "[::1]:8500" (brackets kept: both clients build URLs from it); the port defaults to 8500. */
const hostAndPort = (value: string): { host: string; port: number } => {
  const bare = value.replace(/^https?:\/\//, "").replace(/\/+$/, "")
  const match = /^(.*):(\d+)$/.exec(bare)
  return match === null ? { host: bare, port: 8500 } : { host: match[1] ?? bare, port: Number(match[2]) }
}

// An address of its own on the loopback, so its server and gossip ports meet no other Consul.
const dir = mkdtempSync(join(tmpdir(), "consul-contract-"))
const started: RealConsul | undefined = bin !== undefined && bin !== "" && existsSync(bin)
  ? await startRealConsul({ bin, bind: `127.0.${200 + (process.pid % 50)}.1`, logFile: join(dir, "consul.log") })
  : undefined
afterAll(async () => {
  await started?.close()
  rmSync(dir, { recursive: true, force: true })
})
const address = started?.address ?? given
const token = started === undefined ? process.env.CONSUL_HTTP_TOKEN : undefined

describe.skipIf(address === undefined)(`Consul contract on a real agent (${started !== undefined ? "CONSUL_BIN" : "CONSUL_HTTP_ADDR"})`, () => {
  const { host, port } = hostAndPort(address ?? "127.0.0.1:8500")
  consulContract("real consul", {
    host,
    port,
    ...(token !== undefined && token !== "" ? { token } : {}),
    advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    realTime: true
  })
})
