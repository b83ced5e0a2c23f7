// The running `npm run cluster`'s control socket: one JSON request line, one JSON
// response line, then the connection closes. A second terminal uses it to add, kill,
// stop and start nodes. A socket file nobody answers on is stale and replaced.
import { existsSync, unlinkSync } from "node:fs"
import { connect, createServer, type Socket } from "node:net"

export type ControlRequest =
  | { readonly cmd: "add" }
  | { readonly cmd: "kill" | "stop"; readonly node: number }
  | { readonly cmd: "start"; readonly node: number; readonly wipeData: boolean }
  | { readonly cmd: "kill-process"; readonly node: number; readonly job: string }
  | { readonly cmd: "status"; readonly json: boolean }

export type ControlResponse = { readonly ok: true; readonly output: string } | { readonly ok: false; readonly error: string }

/** Nothing listens at the socket path: no runner is running. */
export class NoRunnerError extends Error {
  override readonly name = "NoRunnerError"
}

const isRecord = (v: unknown): v is Readonly<Record<string, unknown>> => typeof v === "object" && v !== null && !Array.isArray(v)

export const decodeRequest = (v: unknown): ControlRequest | string => {
  if (!isRecord(v)) return "expected a JSON object"
  const node = v["node"]
  const hasNode = typeof node === "number" && Number.isInteger(node) && node > 0
  switch (v["cmd"]) {
    case "add":
      return { cmd: "add" }
    case "kill":
    case "stop":
      return hasNode ? { cmd: v["cmd"], node } : "expected a positive integer `node`"
    case "start":
      return hasNode ? { cmd: "start", node, wipeData: v["wipeData"] === true } : "expected a positive integer `node`"
    case "kill-process":
      return hasNode && typeof v["job"] === "string" ? { cmd: "kill-process", node, job: v["job"] } : "expected `node` and `job`"
    case "status":
      return { cmd: "status", json: v["json"] === true }
    default:
      return `unknown cmd ${JSON.stringify(v["cmd"])}`
  }
}

const readLine = (socket: Socket, onLine: (line: string) => void): void => {
  let buffer = ""
  socket.setEncoding("utf8")
  const onData = (chunk: string): void => {
    buffer += chunk
    const at = buffer.indexOf("\n")
    if (at < 0) return
    socket.off("data", onData)
    onLine(buffer.slice(0, at))
  }
  socket.on("data", onData)
}

const answers = (path: string): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect(path)
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

export interface ControlServer {
  close(): Promise<void>
}

export const serveControl = async (path: string, handle: (request: ControlRequest) => Promise<string>): Promise<ControlServer> => {
  if (existsSync(path)) {
    if (await answers(path)) throw new Error(`a cluster runner is already running (it answers on ${path})`)
    unlinkSync(path)
  }
  const server = createServer((socket) => {
    socket.on("error", () => socket.destroy())
    readLine(socket, (line) => {
      const reply = (r: ControlResponse) => socket.end(`${JSON.stringify(r)}\n`)
      let parsed: unknown
      try {
        parsed = JSON.parse(line)
      } catch {
        return reply({ ok: false, error: "the request is not JSON" })
      }
      const request = decodeRequest(parsed)
      if (typeof request === "string") return reply({ ok: false, error: request })
      handle(request).then(
        (output) => reply({ ok: true, output }),
        (e: unknown) => reply({ ok: false, error: e instanceof Error ? e.message : String(e) })
      )
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(path, () => resolve())
  })
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        try {
          unlinkSync(path)
        } catch {
          // already gone
        }
      })
  }
}

export const sendControl = (path: string, request: ControlRequest, timeoutMs: number): Promise<ControlResponse> =>
  new Promise((resolve, reject) => {
    const socket = connect(path)
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no answer from the cluster runner within ${timeoutMs / 1000} s`))
    }, timeoutMs)
    socket.once("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      reject(e.code === "ENOENT" || e.code === "ECONNREFUSED" ? new NoRunnerError(`no cluster runner is running (nothing answers on ${path}); start one with \`npm run cluster -- --nodes 3\``) : e)
    })
    socket.once("connect", () => socket.write(`${JSON.stringify(request)}\n`))
    readLine(socket, (line) => {
      clearTimeout(timer)
      socket.destroy()
      try {
        const r: unknown = JSON.parse(line)
        if (isRecord(r) && r["ok"] === true && typeof r["output"] === "string") resolve({ ok: true, output: r["output"] })
        else if (isRecord(r) && r["ok"] === false && typeof r["error"] === "string") resolve({ ok: false, error: r["error"] })
        else reject(new Error(`unexpected answer from the cluster runner: ${line}`))
      } catch {
        reject(new Error(`unexpected answer from the cluster runner: ${line}`))
      }
    })
  })
