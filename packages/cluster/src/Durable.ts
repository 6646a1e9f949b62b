/**
 * Where durable runs live: the `WorkflowEngine` of `@effect/cluster` (`ClusterWorkflowEngine`)
 * on a sharding and its SQL storage.
 *
 * - Embedded, the default: one process, a SQLite file (`layerSqlite`). No server to start.
 *   SQLite allows one writer process: two processes on one file fail with "database is locked".
 *   It needs the optional peer dependency `@effect/sql-sqlite-node`.
 * - Several runners: each process is a runner on a shared Postgres (`layerRunner` over
 *   `PgClient.layer` from `@effect/sql-pg`); callers that only send use `clientOnly: true`.
 *
 * @since 0.1.0
 */
import * as ClusterWorkflowEngine from "@effect/cluster/ClusterWorkflowEngine"
import type * as MessageStorage from "@effect/cluster/MessageStorage"
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import type * as Runners from "@effect/cluster/Runners"
import type * as Sharding from "@effect/cluster/Sharding"
import type * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as SingleRunner from "@effect/cluster/SingleRunner"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import type * as SocketServer from "@effect/platform/SocketServer"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { WorkflowEngine } from "@effect/workflow/WorkflowEngine"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

/**
 * Options of {@link layerSqlite}.
 *
 * @since 0.1.0
 * @category models
 */
export interface SqliteOptions {
  /** The database file (created if missing). */
  readonly filename: string
  /**
   * Sharding settings. Default: Effect's, except `entityMessagePollInterval` of 500 ms (the
   * file is local: a restarted process picks up what was in flight within half a second) and
   * `entityTerminationTimeout` of 2 s (a stopping process does not wait for runs in progress, such
   * as one waiting for an approval: they are journaled and resume at the next start).
   */
  readonly shardingConfig?: Partial<ShardingConfig.ShardingConfig["Type"]> | undefined
}

/**
 * The embedded engine: one runner (`SingleRunner`) journaling to a SQLite file. Everything a
 * durable run or a `Conversation` needs, in one process, with no server to start. Only one
 * process may use the file at a time.
 *
 * @example
 * ```ts
 * import { Durable } from "@effect-agents/cluster"
 *
 * const Embedded = Durable.layerSqlite({ filename: "agents.db" })
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layerSqlite = (
  options: SqliteOptions
): Layer.Layer<
  WorkflowEngine | Sharding.Sharding | Runners.Runners | MessageStorage.MessageStorage | SqlClient.SqlClient,
  ConfigError.ConfigError
> =>
  layerSingleRunner(options).pipe(
    Layer.provideMerge(
      // loaded when used: `@effect/sql-sqlite-node` (and its native `better-sqlite3`) is an optional peer
      Layer.unwrapEffect(
        Effect.map(
          Effect.promise(() => import("@effect/sql-sqlite-node/SqliteClient")),
          (SqliteClient) => SqliteClient.layer({ filename: options.filename })
        )
      )
    )
  )

/**
 * One runner (`SingleRunner`) on a SQL database of your choice (`PgClient.layer`, say): one
 * process, no sockets. `layerSqlite` is this layer on a SQLite file.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSingleRunner = (
  options?: { readonly shardingConfig?: Partial<ShardingConfig.ShardingConfig["Type"]> | undefined }
): Layer.Layer<
  WorkflowEngine | Sharding.Sharding | Runners.Runners | MessageStorage.MessageStorage,
  ConfigError.ConfigError,
  SqlClient.SqlClient
> =>
  ClusterWorkflowEngine.layer.pipe(
    Layer.provideMerge(SingleRunner.layer({
      runnerStorage: "sql",
      shardingConfig: {
        entityMessagePollInterval: Duration.millis(500),
        entityTerminationTimeout: Duration.seconds(2),
        ...options?.shardingConfig
      }
    }))
  )

/**
 * Options of {@link layerRunner}.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunnerOptions<ClientOnly extends boolean> {
  /** The address other runners reach this one at. */
  readonly host: string
  readonly port: number
  /** Send to the cluster without running entities or workflows. */
  readonly clientOnly?: ClientOnly | undefined
  /**
   * Sharding settings. Failover after a runner dies takes about `shardLockExpiration` plus a
   * health check; lower `shardLockExpiration` (e.g. 6 s), `shardLockRefreshInterval` (2 s) and
   * `runnerHealthCheckInterval` (2 s) for faster failover.
   */
  readonly shardingConfig?: Partial<ShardingConfig.ShardingConfig["Type"]> | undefined
}

/**
 * A runner of a cluster sharing one SQL database (Postgres: `PgClient.layer` from
 * `@effect/sql-pg`): runners talk over sockets, shards move to the survivors when a runner dies.
 * The sharding settings are passed explicitly (no `HOST`/`PORT` environment variables are read).
 *
 * @example
 * ```ts
 * import { Durable } from "@effect-agents/cluster"
 * import { PgClient } from "@effect/sql-pg"
 * import { Layer, Redacted } from "effect"
 *
 * const Runner = Durable.layerRunner({ host: "10.0.0.5", port: 34431 }).pipe(
 *   Layer.provideMerge(PgClient.layer({ url: Redacted.make("postgres://agents@db/agents") }))
 * )
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layerRunner = <const ClientOnly extends boolean = false>(
  options: RunnerOptions<ClientOnly>
): Layer.Layer<
  WorkflowEngine | Sharding.Sharding | Runners.Runners | MessageStorage.MessageStorage,
  ConfigError.ConfigError | SocketServer.SocketServerError,
  SqlClient.SqlClient
> =>
  ClusterWorkflowEngine.layer.pipe(
    Layer.provideMerge(
      NodeClusterSocket.layer({
        storage: "sql",
        clientOnly: options.clientOnly,
        shardingConfig: {
          runnerAddress: Option.some(RunnerAddress.make(options.host, options.port)),
          ...options.shardingConfig
        }
      }) as Layer.Layer<
        Sharding.Sharding | Runners.Runners | MessageStorage.MessageStorage,
        ConfigError.ConfigError | SocketServer.SocketServerError,
        SqlClient.SqlClient
      >
    )
  )
