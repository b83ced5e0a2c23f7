// Response helpers shared by the emulator's handlers.
import { randomUUID } from "node:crypto"
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http"

export interface LogRecord {
  method: string
  path: string
  status: number
  signed: boolean
}

/** One request being answered. `continued`: a 100 Continue was sent. */
export interface Exchange {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly expectsContinue: boolean
  continued: boolean
  readonly record: LogRecord
}

const baseHeaders = (x: Exchange): OutgoingHttpHeaders => {
  const requestId = x.req.headers["x-request-id"]
  return {
    date: new Date().toUTCString(),
    server: "Manta",
    "x-request-id": typeof requestId === "string" ? requestId : randomUUID(),
    "x-server-name": "manta-emulator"
  }
}

/** Writes the status line and headers (the body follows). */
export const writeHead = (x: Exchange, status: number, headers: OutgoingHttpHeaders): void => {
  const all: OutgoingHttpHeaders = { ...baseHeaders(x), ...headers }
  // A request refused before its 100 Continue still has its body unsent: the client
  // will never send it, so the connection cannot carry another request.
  if (x.expectsContinue && !x.continued) all["connection"] = "close"
  x.record.status = status
  x.res.writeHead(status, all)
}

/** A complete response; the body is left out for HEAD. */
export const respond = (x: Exchange, status: number, headers: OutgoingHttpHeaders = {}, body?: string): void => {
  if (body === undefined || x.req.method === "HEAD") {
    writeHead(x, status, headers)
    x.res.end()
    return
  }
  writeHead(x, status, { ...headers, "content-length": Buffer.byteLength(body) })
  x.res.end(body)
}

/** muskie's error shape: `{"code","message"}` as JSON (no body for HEAD). */
export const sendError = (x: Exchange, status: number, code: string, message: string): void =>
  respond(x, status, { "content-type": "application/json" }, JSON.stringify({ code, message }))

/** A header's single value (the first, if repeated). */
export const header = (req: IncomingMessage, name: string): string | undefined => {
  const value = req.headers[name]
  return Array.isArray(value) ? value[0] : value
}
