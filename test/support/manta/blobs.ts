// Object bytes on disk. A blob is written once (an upload streams into a fresh
// file) and never changed afterwards, so committing an upload is only a metadata
// swap and a reader that opened the old blob keeps reading it. Blobs are
// reference-counted: by the entries that name them (an object and its snaplinks)
// and by the GETs streaming them; the file is removed at zero.
import { randomUUID } from "node:crypto"
import { copyFile, open, rm, unlink } from "node:fs/promises"
import { join } from "node:path"

export class BlobStore {
  readonly #dir: string
  readonly #refs = new Map<string, number>()
  readonly #pending = new Set<Promise<void>>()

  constructor(dir: string) {
    this.#dir = dir
  }

  /** A new blob id with one reference held by the caller, and the file path to write. */
  allocate(): { readonly id: string; readonly path: string } {
    const id = randomUUID()
    this.#refs.set(id, 1)
    return { id, path: this.path(id) }
  }

  path(id: string): string {
    return join(this.#dir, id)
  }

  retain(id: string): void {
    this.#refs.set(id, (this.#refs.get(id) ?? 0) + 1)
  }

  release(id: string): void {
    const refs = (this.#refs.get(id) ?? 1) - 1
    if (refs > 0) {
      this.#refs.set(id, refs)
      return
    }
    this.#refs.delete(id)
    this.#track(unlink(this.path(id)).catch(() => undefined))
  }

  /**
   * A copy of `id` with `positions` XOR-ed by 0xff (bit rot), as a new blob with one
   * reference held by the caller. Streams the copy on disk: no object is held in memory.
   */
  async corruptCopy(id: string, positions: ReadonlyArray<number>): Promise<string> {
    const copy = this.allocate()
    try {
      await copyFile(this.path(id), copy.path)
      const handle = await open(copy.path, "r+")
      try {
        const byte = Buffer.alloc(1)
        for (const position of positions) {
          await handle.read(byte, 0, 1, position)
          byte[0] = (byte[0] ?? 0) ^ 0xff
          await handle.write(byte, 0, 1, position)
        }
      } finally {
        await handle.close()
      }
      return copy.id
    } catch (error) {
      this.release(copy.id)
      throw error
    }
  }

  /** Lets in-flight file operations (unlinks) settle, then removes the directory. */
  async destroy(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending])
    await rm(this.#dir, { recursive: true, force: true })
  }

  #track(promise: Promise<void>): void {
    this.#pending.add(promise)
    void promise.finally(() => this.#pending.delete(promise))
  }
}
