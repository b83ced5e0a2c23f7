// A handler called with arguments it does not accept: exit 2, like an invalid
// environment, so Sentinel does not retry its script and operators see a usage line.
import { Runtime, Schema } from "effect"

export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", { detail: Schema.String }) {
  override readonly [Runtime.errorExitCode] = 2
  override get message(): string {
    return this.detail
  }
}
