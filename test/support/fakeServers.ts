// TCP servers that misbehave like a dependency can: one accepts connections and never
// answers (a hung Redis or Sentinel), one answers every command with a reply of the
// wrong shape. They run on 127.0.0.1 with an ephemeral port and close every socket.
import { createServer, type Server, type Socket } from "node:net"

export interface FakeServer {
  readonly host: string
  readonly port: number
  /** Connections accepted and not yet closed by the client. */
  openConnections(): number
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
