// The application client of the README ("Connecting clients") against the race that
// ended ioredis 6.0 clients for good: the master's connection drops, the client asks a
// sentinel again, and while that answer is on its way a +switch-master arrives on the
// failover detector's subscription. The client must write again once the sentinel
// answers; without the README's restart on an unasked "end" it stays ended, every
// command failing "Connection is closed.".
import { afterEach, describe, expect, it } from "vitest"
import { ApplicationClient } from "../support/applicationClient.ts"
import { type ControllableServer, controllableServer, redisMaster, sentinelOf } from "../support/fakeServers.ts"
import { waitFor } from "../support/scenario.ts"

const SENTINEL_ANSWERS_AFTER_MS = 1_500
/** As Redis before 6 answers HELLO: ioredis then speaks RESP2. */
const refuseHello = { error: "ERR unknown command 'HELLO'" }

const opened: Array<{ close(): unknown }> = []
afterEach(async () => {
  for (const x of opened.splice(0)) await x.close()
})

describe("the README's application client", () => {
  it("a failover announced while it reconnects: it writes again once a sentinel answers, never ends", async () => {
    // Redis 7 speaks RESP3; these stand-ins refuse HELLO, so Pub/Sub messages come as RESP2 arrays: the race is the same.
    // ioredis checks the role a sentinel named in INFO.
    const master = await controllableServer("127.0.0.1", (args) => {
      const command = args[0]?.toUpperCase()
      return command === "HELLO" ? refuseHello : command === "INFO" ? "role:master\r\nloading:0\r\n" : redisMaster(args)
    })
    const named = sentinelOf("mymaster", { host: "127.0.0.1", port: master.port })
    const sentinel: ControllableServer = await controllableServer("127.0.0.1", (args) =>
      args[0]?.toUpperCase() === "HELLO" ? refuseHello : args[0]?.toUpperCase() === "CLIENT" ? { simple: "OK" } : named(args))
    opened.push(master, sentinel)
    const client = new ApplicationClient({ sentinels: [{ host: "127.0.0.1", port: sentinel.port }], name: "mymaster" })
    opened.push({ close: () => client.disconnect() })
    expect(await client.set("before", "1")).toBe("OK")
    await waitFor("the failover detector subscribed", 5_000, async () => sentinel.subscribers("+switch-master"), (n) => n > 0, 10)

    const asked = () => sentinel.received().filter((c) => c[1]?.toLowerCase() === "get-master-addr-by-name").length
    const askedBefore = asked()
    sentinel.delayAnswers(SENTINEL_ANSWERS_AFTER_MS)
    master.dropConnections()
    await waitFor("the client asking the sentinel again", 5_000, async () => asked(), (n) => n > askedBefore, 10)
    sentinel.publish("+switch-master", `mymaster 127.0.0.1 1 127.0.0.1 ${master.port}`)

    await waitFor("a write acknowledged again", 10 * SENTINEL_ANSWERS_AFTER_MS, () => client.set("after", "1").catch((e: unknown) => `${String(e)} (client ${client.status})`), (r) => r === "OK", 10)
    expect(client.status).toBe("ready")
  }, 30_000)
})
