// TCP servers that misbehave like a dependency can: one accepts connections and never
// answers (a hung Redis or Sentinel), one answers every command with a reply of the
// wrong shape. They run on 127.0.0.1 with an ephemeral port and close every socket.
import { createServer, type Server, type Socket } from "node:net"

export interface FakeServer {
  readonly host: string
  readonly port: number
  /** Connections accepted and not yet closed by the client. */
  openConnections(): number
  /** Closes every open connection from the server's side, as Redis's CLIENT KILL does; keeps listening. */
  dropConnections(): void
  close(): Promise<void>
}

const serve = async (onConnection: (socket: Socket) => void): Promise<FakeServer> => {
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
    socket.on("error", () => {})
    onConnection(socket)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : 0
  return {
    host: "127.0.0.1",
    port,
    openConnections: () => sockets.size,
    dropConnections: () => {
      for (const s of sockets) s.destroy()
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      })
  }
}

/** RESP commands in a chunk (arrays at line starts), so pipelined commands each get a reply. */
const commandsIn = (chunk: Buffer): number => Math.max(1, (chunk.toString("latin1").match(/(?:^|\n)\*\d+\r\n/g) ?? []).length)

/** Accepts and reads, never writes. */
export const silentServer = (): Promise<FakeServer> => serve(() => {})

/** Answers each RESP command with `+GARBAGE`: a valid protocol frame of the wrong shape. */
export const garbageRespServer = (): Promise<FakeServer> =>
  serve((socket) => socket.on("data", (chunk: Buffer) => socket.write("+GARBAGE\r\n".repeat(commandsIn(chunk)))))

/** A port where nothing listens (bound, then closed). */
export const closedPort = async (): Promise<number> => {
  const s = await silentServer()
  await s.close()
  return s.port
}

/** Answers every command as `ROLE` of a master with no replicas would. */
export const masterRespServer = (): Promise<FakeServer> =>
  serve((socket) => socket.on("data", (chunk: Buffer) => socket.write("*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n".repeat(commandsIn(chunk)))))

/** A RESP reply: simple string, error, integer, bulk string (null: nil), or array. */
export type Resp =
  | { readonly simple: string }
  | { readonly error: string }
  | number
  | string
  | null
  | ReadonlyArray<Resp>

const isArray = (r: Resp): r is ReadonlyArray<Resp> => Array.isArray(r)

const encode = (r: Resp): string => {
  if (r === null) return "$-1\r\n"
  if (typeof r === "number") return `:${r}\r\n`
  if (typeof r === "string") return `$${Buffer.byteLength(r)}\r\n${r}\r\n`
  if (isArray(r)) return `*${r.length}\r\n${r.map(encode).join("")}`
  return "simple" in r ? `+${r.simple}\r\n` : `-${r.error}\r\n`
}

/** Complete RESP commands (arrays of bulk strings) at the front of `buffer`, and what is left. */
const parseCommands = (buffer: string): { readonly commands: ReadonlyArray<ReadonlyArray<string>>; readonly rest: string } => {
  const commands: Array<ReadonlyArray<string>> = []
  let at = 0
  for (;;) {
    const head = /^\*(\d+)\r\n/.exec(buffer.slice(at))
    if (head === null) break
    let i = at + head[0].length
    const args: Array<string> = []
    let complete = true
    for (let n = 0; n < Number(head[1]); n++) {
      const len = /^\$(\d+)\r\n/.exec(buffer.slice(i))
      if (len === null) {
        complete = false
        break
      }
      const start = i + len[0].length
      const end = start + Number(len[1])
      if (buffer.length < end + 2) {
        complete = false
        break
      }
      args.push(buffer.slice(start, end))
      i = end + 2
    }
    if (!complete) break
    commands.push(args)
    at = i
  }
  return { commands, rest: buffer.slice(at) }
}

export type FakeMode = "good" | "down" | "hang" | "garbage"

export interface ControllableServer extends FakeServer {
  /** good: answers with the handler; down: refuses connections; hang: accepts, never answers; garbage: `+GARBAGE` to everything. */
  setMode(mode: FakeMode): Promise<void>
  /** Sends a Pub/Sub message to every connection that subscribed to it (by PSUBSCRIBE, or SUBSCRIBE to that channel). */
  publish(channel: string, message: string): void
  /** From now on every answer (not a subscription's) is sent this much later: a busy or distant server. */
  delayAnswers(ms: number): void
  /** Every command received so far, in order. */
  received(): ReadonlyArray<ReadonlyArray<string>>
  /** Connections subscribed to `channel` by SUBSCRIBE. */
  subscribers(channel: string): number
}

/**
 * A Redis or Sentinel stand-in on a fixed loopback address whose failure mode can
 * change while clients stay pointed at it: "down" stops listening and drops every
 * connection, coming back on the same port.
 */
export const controllableServer = async (host: string, answer: (args: ReadonlyArray<string>) => Resp, port = 0): Promise<ControllableServer> => {
  let mode: FakeMode = "good"
  let delay = 0
  const log: Array<ReadonlyArray<string>> = []
  const sockets = new Set<Socket>()
  const subscribers = new Set<Socket>()
  const channels = new Map<Socket, Set<string>>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.on("close", () => {
      sockets.delete(socket)
      subscribers.delete(socket)
      channels.delete(socket)
    })
    socket.on("error", () => {})
    let buffer = ""
    socket.on("data", (chunk: Buffer) => {
      if (mode === "hang") return
      if (mode === "garbage") return void socket.write("+GARBAGE\r\n".repeat(commandsIn(chunk)))
      const parsed = parseCommands(buffer + chunk.toString("latin1"))
      buffer = parsed.rest
      for (const args of parsed.commands) {
        log.push(args)
        if (args[0]?.toUpperCase() === "PSUBSCRIBE") {
          subscribers.add(socket)
          socket.write(encode(["psubscribe", args[1] ?? "*", 1]))
        } else if (args[0]?.toUpperCase() === "SUBSCRIBE") {
          const subscribed = channels.get(socket) ?? new Set<string>()
          for (const channel of args.slice(1)) {
            subscribed.add(channel)
            socket.write(encode(["subscribe", channel, subscribed.size]))
          }
          channels.set(socket, subscribed)
        } else {
          const reply = encode(answer(args))
          if (delay === 0) socket.write(reply)
          else setTimeout(() => socket.writable && socket.write(reply), delay)
        }
      }
    })
  })
  const listen = (p: number) => new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(p, host, () => {
      server.off("error", reject)
      resolve()
    })
  })
  await listen(port)
  const address = server.address()
  const bound = typeof address === "object" && address !== null ? address.port : port
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy()
      if (!server.listening) return resolve()
      server.close(() => resolve())
    })
  return {
    host,
    port: bound,
    openConnections: () => sockets.size,
    dropConnections: () => {
      for (const s of sockets) s.destroy()
    },
    setMode: async (next) => {
      const wasDown = mode === "down"
      mode = next
      if (next === "down") await stop()
      else if (wasDown) await listen(bound)
    },
    publish: (channel, message) => {
      if (mode !== "good") return
      for (const s of subscribers) s.write(encode(["pmessage", "*", channel, message]))
      for (const [s, subscribed] of channels) if (subscribed.has(channel)) s.write(encode(["message", channel, message]))
    },
    delayAnswers: (ms) => {
      delay = ms
    },
    received: () => log,
    subscribers: (channel) => [...channels.values()].filter((c) => c.has(channel)).length,
    close: stop
  }
}

/** What a Redis master answers to the agent: ROLE master with no replicas, INFO empty. */
export const redisMaster = (args: ReadonlyArray<string>): Resp =>
  args[0]?.toUpperCase() === "ROLE"
    ? ["master", 0, []]
    : args[0]?.toUpperCase() === "INFO"
    ? ""
    : args[0]?.toUpperCase() === "CONFIG" && args[1]?.toUpperCase() === "GET"
    ? [args[2] ?? "", "100"]
    : { simple: "OK" }

/** What a Sentinel that monitors `name` with `master` (and knows no peers) answers. */
export const sentinelOf = (name: string, master: { readonly host: string; readonly port: number }) => (args: ReadonlyArray<string>): Resp => {
  const [command, sub, of] = args.map((a) => a.toLowerCase())
  if (command !== "sentinel") return { error: "ERR unknown command" }
  if (of !== name.toLowerCase() && sub !== "reset") return { error: "ERR No such master with that name" }
  switch (sub) {
    case "get-master-addr-by-name":
      return [master.host, String(master.port)]
    case "master":
      return ["name", name, "ip", master.host, "port", String(master.port), "runid", "r", "flags", "master", "num-slaves", "0", "num-other-sentinels", "0", "quorum", "1"]
    case "sentinels":
    case "replicas":
      return []
    default:
      return { simple: "OK" }
  }
}
