import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Layer from "effect/Layer"
import type { StoreError } from "./errors.js"
import * as PostgresStore from "./postgres.js"
import * as SqliteStore from "./sqlite.js"
import type { StoreServices } from "./store.js"

export { AddressStates, type AddressListFilter, type QuarantineFilter } from "./address-states.js"
export { BounceEvents } from "./bounce-events.js"
export { quarantinePolicyConfig, storeSettingsConfig } from "./config.js"
export { DeliveryLog } from "./delivery-log.js"
export { DomainStats, type DomainTotals } from "./domain-stats.js"
export { StoreError } from "./errors.js"
export { AccountLeases, type Lease, type LeaseAttempt } from "./leases.js"
export { MailLedger } from "./mail-ledger.js"
export { migrate, migrations } from "./migrations.js"
export * from "./model.js"
export { QualificationLog } from "./qualification-log.js"
export { RawArchive, type RawMail } from "./raw-archive.js"
export { normalizeMessageId, SentMessages } from "./sent-messages.js"
export {
  type AddressTransition,
  defaultSettings,
  layerDailyJob,
  layerFromClient,
  ledgerKeyOf,
  type MailApplied,
  type MailToApply,
  type MaintenanceReport,
  type OperatorAction,
  type Repositories,
  type SentMessageInput,
  sha256Hex,
  Store,
  type StoreServices,
  StoreSettings
} from "./store.js"
export {
  SmtpWorkQueue,
  type SmtpEnvelope,
  type SmtpWorkCounts,
  type SmtpWorkInput,
  type SmtpWorkItem
} from "./work-queue.js"
export * as Memory from "./memory.js"
export * as Postgres from "./postgres.js"
export * as Sqlite from "./sqlite.js"
export * as WorkQueue from "./work-queue.js"

/** The store chosen by STORE_BACKEND: "sqlite" (the default, ./data/rebound.db) or "postgres". */
export const layerConfig: Layer.Layer<StoreServices, StoreError | ConfigError.ConfigError> = Layer.unwrapEffect(
  Config.literal(
    "sqlite",
    "postgres"
  )("STORE_BACKEND").pipe(
    Config.withDefault("sqlite" as const),
    Config.withDescription('Where rebound keeps its state: "sqlite" (one process, a file) or "postgres" (several).'),
    Config.map((backend) => (backend === "postgres" ? PostgresStore.layerConfig : SqliteStore.layerConfig))
  )
)
