import * as Config from "effect/Config"
import { LocalPartCase } from "../../domain/address.js"
import { defaultQuarantinePolicy, type QuarantinePolicy } from "../../domain/quarantine.js"
import { Reason } from "../../domain/report.js"
import { defaultSettings, type StoreSettings } from "./store.js"

const days = (name: string, fallback: number, description: string) =>
  Config.integer(name).pipe(
    Config.validate({ message: "must be a positive number", validation: (n) => n > 0 }),
    Config.withDefault(fallback),
    Config.withDescription(description)
  )

const reasons = (name: string, fallback: ReadonlyArray<Reason>, description: string) =>
  Config.array(Config.literal(...Reason.literals)(), name).pipe(
    Config.withDefault(fallback),
    Config.withDescription(description)
  )

const guard = defaultQuarantinePolicy.outageGuard

/** The quarantine policy from config (QUARANTINE_ERROR_THRESHOLD, ...); every key defaults to Campaign's value. */
export const quarantinePolicyConfig: Config.Config<QuarantinePolicy> = Config.nested(
  Config.all({
    errorThreshold: Config.integer("ERROR_THRESHOLD").pipe(
      Config.validate({ message: "must be at least 1", validation: (n) => n >= 1 }),
      Config.withDefault(defaultQuarantinePolicy.errorThreshold),
      Config.withDescription("Counted errors that quarantine an address.")
    ),
    errorSpacingHours: Config.integer("ERROR_SPACING_HOURS").pipe(
      Config.validate({ message: "must not be negative", validation: (n) => n >= 0 }),
      Config.withDefault(defaultQuarantinePolicy.errorSpacingHours),
      Config.withDescription("Two errors of an address count separately only this many hours apart.")
    ),
    counterResetDays: days(
      "COUNTER_RESET_DAYS",
      defaultQuarantinePolicy.counterResetDays,
      "The error counter starts again after this many days without a counted error."
    ),
    timedReleaseDays: days(
      "TIMED_RELEASE_DAYS",
      defaultQuarantinePolicy.timedReleaseDays,
      "Quarantines for the timed-release reasons are released by the daily job after this many days."
    ),
    timedReleaseReasons: reasons(
      "TIMED_RELEASE_REASONS",
      defaultQuarantinePolicy.timedReleaseReasons,
      "Reasons whose quarantine the daily job releases (comma-separated)."
    ),
    hardBounceQuarantines: Config.boolean("HARD_BOUNCE_QUARANTINES").pipe(
      Config.withDefault(defaultQuarantinePolicy.hardBounceQuarantines),
      Config.withDescription("A hard bounce quarantines at once (otherwise it only counts as an error).")
    ),
    complaintDenylists: Config.boolean("COMPLAINT_DENYLISTS").pipe(
      Config.withDefault(defaultQuarantinePolicy.complaintDenylists),
      Config.withDescription("An ARF complaint puts the address on the denylist.")
    ),
    deliveryResetsCounter: Config.boolean("DELIVERY_RESETS_COUNTER").pipe(
      Config.withDefault(defaultQuarantinePolicy.deliveryResetsCounter),
      Config.withDescription("A successful delivery resets the error counter of an address that is not quarantined.")
    ),
    domainReasons: reasons(
      "DOMAIN_REASONS",
      defaultQuarantinePolicy.domainReasons,
      "Reasons that count against the receiving domain, not the address (comma-separated)."
    ),
    outageGuard: Config.nested(
      Config.all({
        enabled: Config.boolean("ENABLED").pipe(
          Config.withDefault(guard.enabled),
          Config.withDescription("Hold new hard quarantines of a domain that bounces unusually as suspect.")
        ),
        windowHours: days("WINDOW_HOURS", guard.windowHours, "Hours over which sends and hard bounces are compared."),
        minSends: days("MIN_SENDS", guard.minSends, "Below this many sends in the window the share rule is off."),
        hardBounceShare: Config.number("HARD_BOUNCE_SHARE").pipe(
          Config.validate({ message: "must be between 0 and 1", validation: (n) => n >= 0 && n <= 1 }),
          Config.withDefault(guard.hardBounceShare),
          Config.withDescription("Hard bounces above this share of the window's sends make a domain suspect.")
        ),
        hardBouncesPerHour: days(
          "HARD_BOUNCES_PER_HOUR",
          guard.hardBouncesPerHour,
          "This many hard bounces from one domain within an hour make it suspect."
        )
      }),
      "OUTAGE_GUARD"
    )
  }),
  "QUARANTINE"
)

/** The store settings from config: the quarantine policy and STORE_LOCAL_PART_CASE, STORE_ARCHIVE_ALL, ... */
export const storeSettingsConfig: Config.Config<StoreSettings> = Config.all({
  policy: quarantinePolicyConfig,
  store: Config.all({
    localPartCase: Config.literal(...LocalPartCase.literals)("LOCAL_PART_CASE").pipe(
      Config.withDefault(defaultSettings.localPartCase),
      Config.withDescription('How local parts are compared: "lowercase" (the default) or "preserve".')
    ),
    archiveAll: Config.boolean("ARCHIVE_ALL").pipe(
      Config.withDefault(defaultSettings.archiveAll),
      Config.withDescription("Archive the bytes of every mail, not only of the mails that were not applied.")
    ),
    archiveRetentionDays: days(
      "ARCHIVE_RETENTION_DAYS",
      defaultSettings.archiveRetentionDays,
      "Days the raw archive keeps a mail's bytes."
    ),
    sentRetentionDays: days(
      "SENT_RETENTION_DAYS",
      defaultSettings.sentRetentionDays,
      "Days a registered sent message is kept for correlation."
    ),
    domainStatsRetentionDays: days(
      "DOMAIN_STATS_RETENTION_DAYS",
      defaultSettings.domainStatsRetentionDays,
      "Days the hourly per-domain counters are kept."
    ),
    recentRecipientDays: Config.integer("RECENT_RECIPIENT_DAYS").pipe(
      Config.validate({ message: "must not be negative", validation: (n) => n >= 0 }),
      Config.withDefault(defaultSettings.recentRecipientDays),
      Config.withDescription('Days the "same recipient, sent recently" correlation looks back (0: never guess).')
    ),
    trustUnverified: Config.boolean("TRUST_UNVERIFIED").pipe(
      Config.withDefault(defaultSettings.trustUnverified),
      Config.withDescription(
        "Whether bounces that no verified signature or registered message vouches for may change addresses."
      )
    )
  }).pipe(Config.nested("STORE"))
}).pipe(Config.map(({ policy, store }) => ({ policy, ...store })))
