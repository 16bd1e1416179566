import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServer from "@effect/platform/HttpServer"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type { HttpApiDecodeError } from "@effect/platform/HttpApiError"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as ConfigError from "effect/ConfigError"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { createServer } from "node:http"
import type { AddressStates } from "../../adapters/store/address-states.js"
import type { QualificationLog } from "../../adapters/store/qualification-log.js"
import type { Store } from "../../adapters/store/store.js"
import * as WebhookOutboxRepo from "../../adapters/store/webhook-outbox.js"
import * as AlertLogRepo from "../alerts/alert-log.js"
import type { ProcessorStatus } from "../status.js"
import { BadRequest, NotFound, ReboundApi } from "./api.js"
import * as Auth from "./auth.js"
import { type HttpConfig, httpConfig } from "./config.js"
import * as Dashboard from "./dashboard.js"
import { layerHandlers } from "./handlers.js"
import * as ReadModelRepo from "./read-model.js"

/** Whether `host` only reaches this machine. */
export const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "::1" || host === "[::1]" || /^127(\.\d{1,3}){3}$/.test(host)

const issuesText = (issues: ReadonlyArray<{ readonly path: ReadonlyArray<unknown>; readonly message: string }>) =>
  issues
    .slice(0, 10)
    .map((issue) => (issue.path.length === 0 ? issue.message : `${issue.path.join(".")}: ${issue.message}`))
    .join("; ")

/**
 * Makes every error answer a JSON object with `status` and `message`: schema decode failures become BadRequest with
 * the offending fields, unknown routes NotFound, and a defect a 500 whose cause goes to the log, never to the client.
 */
const jsonErrors = HttpApiBuilder.middleware(ReboundApi, (app) =>
  Effect.catchAllCause(app, (cause): Effect.Effect<HttpServerResponse.HttpServerResponse, BadRequest | NotFound> => {
    const failure = Cause.failureOption(cause)
    if (Option.isSome(failure)) {
      const error: { readonly _tag?: string } = failure.value as any
      if (error._tag === "HttpApiDecodeError")
        return Effect.fail(new BadRequest({ message: issuesText((failure.value as HttpApiDecodeError).issues) }))
      if (error._tag === "RouteNotFound") {
        const request = (failure.value as unknown as { request: { method: string; url: string } }).request
        return Effect.fail(new NotFound({ message: `no route ${request.method} ${request.url.split("?")[0]}` }))
      }
      return Effect.failCause(cause)
    }
    if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause)
    const defect: any = Cause.squash(cause)
    // the body parser dies with a RequestError on a body that is not JSON
    if (defect?._tag === "RequestError" && defect.reason === "Decode")
      return Effect.fail(
        new BadRequest({ message: `the request body is not valid JSON: ${defect.cause?.message ?? "cannot decode"}` })
      )
    return Effect.as(
      Effect.logError("HTTP request failed", cause),
      HttpServerResponse.unsafeJson({ status: 500, message: "internal error (see the server log)" }, { status: 500 })
    )
  })
)

/** What the API reads and writes: the store (its services and SQL client) and the processor's status board. */
export type HttpRequirements = Store | AddressStates | QualificationLog | SqlClient.SqlClient | ProcessorStatus

/**
 * The HTTP API, its OpenAPI document at /openapi.json and the dashboard at /, served for as long as the layer lives.
 * With no token configured it listens on loopback only, whatever the host says, and logs so.
 */
export const layer = (
  config: HttpConfig
): Layer.Layer<HttpServer.HttpServer, HttpServerError.ServeError, HttpRequirements> => {
  const open = config.tokens.length === 0
  const host = open && !isLoopback(config.host) ? "127.0.0.1" : config.host
  const announce = Layer.effectDiscard(
    Effect.gen(function* () {
      const server = yield* HttpServer.HttpServer
      const address = server.address._tag === "TcpAddress" ? server.address : undefined
      const url =
        address === undefined
          ? "(unix socket)"
          : `http://${address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname}:${address.port}`
      yield* Effect.logInfo(`HTTP API listening on ${url} (dashboard at /, OpenAPI at /openapi.json)`)
      if (open)
        yield* Effect.logWarning(
          host === config.host
            ? "no API token configured (HTTP_ADMIN_TOKENS, HTTP_READ_TOKENS): listening on loopback only, and every local client has the admin scope"
            : `no API token configured (HTTP_ADMIN_TOKENS, HTTP_READ_TOKENS): HTTP_HOST=${config.host} ignored, listening on loopback only`
        )
    })
  )
  const api = HttpApiBuilder.api(ReboundApi).pipe(
    Layer.provide(layerHandlers),
    Layer.provide(Auth.layer(config.tokens))
  )
  const routes = Layer.mergeAll(
    HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" }),
    jsonErrors,
    config.dashboard ? Dashboard.layer : Layer.empty
  )
  return HttpApiBuilder.serve().pipe(
    Layer.provide(routes),
    Layer.provide(api),
    Layer.merge(announce),
    Layer.provideMerge(NodeHttpServer.layer(createServer, { host, port: config.port })),
    Layer.provide(Layer.mergeAll(ReadModelRepo.layer, WebhookOutboxRepo.layer, AlertLogRepo.layer))
  )
}

/** The HTTP API configured by HTTP_HOST, HTTP_PORT, HTTP_ADMIN_TOKENS, HTTP_READ_TOKENS and HTTP_DASHBOARD. */
export const layerConfig: Layer.Layer<
  HttpServer.HttpServer,
  HttpServerError.ServeError | ConfigError.ConfigError,
  HttpRequirements
> = Layer.unwrapEffect(Effect.map(httpConfig, layer))
