// The client the README's "Connecting clients" tells applications to build: ioredis
// through the sentinels, following +switch-master (failoverDetector) and reconnecting
// on READONLY, never giving up. One more line than ioredis's options: ioredis 6.0 ends
// a client for good when a failover is announced while it is reconnecting (its failover
// detector closes the connection being made, and the connect error ends the client), so
// a client that ends without being closed is started again.
import { Redis, type RedisOptions } from "ioredis"

export type ApplicationOptions = Pick<
  RedisOptions,
  "sentinels" | "name" | "username" | "password" | "sentinelUsername" | "sentinelPassword" | "tls" | "sentinelTLS" | "enableTLSForSentinelMode"
>

export class ApplicationClient extends Redis {
  #closing = false

  constructor(options: ApplicationOptions) {
    super({
      ...options,
      failoverDetector: true,
      reconnectOnError: (e) => (e.message.startsWith("READONLY") ? 2 : false),
      // Never giving up, as an application does (ioredis's own default); each command is bounded by commandTimeout.
      sentinelRetryStrategy: () => 100,
      retryStrategy: () => 100,
      commandTimeout: 5000
    })
    this.on("error", () => {})
    this.on("end", () => {
      if (!this.#closing) this.connect().catch(() => {})
    })
  }

  override disconnect(reconnect = false): void {
    if (!reconnect) this.#closing = true
    super.disconnect(reconnect)
  }
}
