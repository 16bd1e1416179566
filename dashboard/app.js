// The rebound dashboard: a single page over the HTTP API (/v1/...), no build step. Chart.js is the global `Chart`.

const tokenKey = "rebound.token"
const state = { session: null, range: "7d", charts: [] }

// ---- helpers

/** Builds an element; children are nodes or text (never parsed as HTML). */
const h = (tag, attrs = {}, ...children) => {
  const element = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue
    if (key === "class") element.className = value
    else if (key.startsWith("on")) element.addEventListener(key.slice(2), value)
    else if (value === true) element.setAttribute(key, "")
    else element.setAttribute(key, String(value))
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue
    element.append(child instanceof Node ? child : document.createTextNode(String(child)))
  }
  return element
}

const number = (n) => (n === null || n === undefined ? "–" : n.toLocaleString("en-US"))
const percent = (share) => (share === null || share === undefined ? "–" : `${(share * 100).toFixed(1)}%`)

const ago = (iso) => {
  if (!iso) return "never"
  const seconds = Math.round((Date.now() - Date.parse(iso)) / 1000)
  if (seconds < 0) return "just now"
  if (seconds < 60) return `${seconds} s ago`
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`
  return `${Math.round(seconds / 86400)} d ago`
}

const when = (iso) =>
  iso ? h("span", { title: new Date(iso).toLocaleString() }, ago(iso)) : h("span", { class: "muted" }, "never")

const badge = (text, kind = text) => h("span", { class: `badge ${kind}` }, text)

const table = (columns, rows, empty = "Nothing here yet.") =>
  rows.length === 0
    ? h("div", { class: "empty" }, empty)
    : h(
        "table",
        {},
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            columns.map((c) => h("th", { class: c.num ? "num" : "" }, c.label))
          )
        ),
        h(
          "tbody",
          {},
          rows.map((row) =>
            h(
              "tr",
              {},
              columns.map((c) => h("td", { class: [c.num ? "num" : "", c.class ?? ""].join(" ") }, c.cell(row)))
            )
          )
        )
      )

const toast = (message, bad = false) => {
  const element = document.getElementById("toast")
  element.textContent = message
  element.className = bad ? "toast bad" : "toast"
  element.hidden = false
  clearTimeout(toast.timer)
  toast.timer = setTimeout(() => (element.hidden = true), 3500)
}

class ApiError extends Error {
  constructor(status, message) {
    super(message)
    this.status = status
  }
}

/** Calls the API with the saved token; a 401 opens the token dialog. */
const api = async (path, options = {}) => {
  const headers = { accept: "application/json" }
  const token = localStorage.getItem(tokenKey)
  if (token) headers.authorization = `Bearer ${token}`
  if (options.body !== undefined) headers["content-type"] = "application/json"
  const response = await fetch(path, {
    method: options.method ?? "GET",
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body)
  })
  const body = await response.json().catch(() => ({}))
  if (!response.ok) {
    if (response.status === 401) openTokenDialog(body.message)
    throw new ApiError(response.status, body.message ?? `HTTP ${response.status}`)
  }
  return body
}

const isAdmin = () => state.session?.scope === "admin"

// ---- session and token

const openTokenDialog = (problem) => {
  const dialog = document.getElementById("token-dialog")
  const error = document.getElementById("token-error")
  error.hidden = !problem
  error.textContent = problem ?? ""
  if (!dialog.open) dialog.showModal()
}

const loadSession = async () => {
  const name = document.getElementById("session-name")
  try {
    state.session = await api("/v1/session")
    name.textContent = state.session.open
      ? "Local access (no token configured)"
      : `${state.session.name} · ${state.session.scope === "admin" ? "admin" : "read-only"}`
  } catch {
    state.session = null
    name.textContent = "Not signed in"
  }
}

// ---- charts

const destroyCharts = () => {
  for (const chart of state.charts) chart.destroy()
  state.charts = []
}

const palette = { hard: "#d92d20", soft: "#f79009", delayed: "#98a2b3", complaints: "#7a5af8", ignored: "#d0d5dd" }

const timelineChart = (canvas, rows, bucket) => {
  const label = (iso) => {
    const date = new Date(iso)
    return bucket === "day"
      ? date.toLocaleDateString("en-GB", { day: "numeric", month: "short" })
      : date.toLocaleString("en-GB", { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" })
  }
  const series = [
    ["hard", "Hard"],
    ["soft", "Soft"],
    ["delayed", "Delayed"],
    ["complaints", "Complaints"]
  ]
  state.charts.push(
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: rows.map((row) => label(row.at)),
        datasets: series.map(([key, name]) => ({
          label: name,
          data: rows.map((row) => row[key]),
          backgroundColor: palette[key],
          borderRadius: 2,
          maxBarThickness: 28
        }))
      },
      options: {
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12, boxHeight: 12 } } },
        scales: {
          x: { stacked: true, grid: { display: false }, ticks: { maxTicksLimit: 12, maxRotation: 0 } },
          y: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, grid: { color: "#eef1f6" } }
        }
      }
    })
  )
}

const reasonsChart = (canvas, rows) => {
  state.charts.push(
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: rows.map((row) => row.reason),
        datasets: [
          {
            label: "Bounces",
            data: rows.map((row) => row.count),
            backgroundColor: rows.map((row) => palette[row.type] ?? palette.ignored),
            borderRadius: 3,
            maxBarThickness: 18
          }
        ]
      },
      options: {
        indexAxis: "y",
        maintainAspectRatio: false,
        animation: false,
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: (item) => `${rows[item.dataIndex].type}: ${number(item.raw)}` } }
        },
        scales: {
          x: { beginAtZero: true, ticks: { precision: 0 }, grid: { color: "#eef1f6" } },
          y: { grid: { display: false } }
        }
      }
    })
  )
}

// ---- pages

const ranges = {
  "24h": { days: 1, bucket: "hour" },
  "7d": { days: 7, bucket: "hour" },
  "30d": { days: 30, bucket: "day" }
}

const rangeQuery = () => {
  const range = ranges[state.range]
  const to = new Date()
  const from = new Date(to.getTime() - range.days * 86_400_000)
  return { from: from.toISOString(), to: to.toISOString(), bucket: range.bucket }
}

const rateCell = (share, color) =>
  h(
    "div",
    { class: "rate" },
    h("span", {}, percent(share)),
    h(
      "div",
      { class: "bar" },
      h("span", { style: `width:${Math.min(100, (share ?? 0) * 100 * 5)}%;background:${color}` })
    )
  )

const addressLink = (address) => h("a", { href: `#/addresses/${encodeURIComponent(address)}` }, address)

const alertItem = (alert) =>
  h(
    "div",
    { class: `alert ${alert.severity}` },
    h("div", {}, badge(alert.severity), " ", alert.message),
    h(
      "div",
      { class: "when" },
      alert.resolvedAt
        ? `resolved ${ago(alert.resolvedAt)} · opened ${ago(alert.openedAt)}`
        : `opened ${ago(alert.openedAt)}`
    )
  )

const overview = async (main) => {
  const { from, to, bucket } = rangeQuery()
  const query = `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`
  const [timeline, reasons, domains, quarantines, alerts] = await Promise.all([
    api(`/v1/reports/timeline?${query}&bucket=${bucket}`),
    api(`/v1/reports/reasons?${query}&limit=10`),
    api(`/v1/reports/domains?${query}&limit=10`),
    api(`/v1/quarantines?${query}&limit=1000`),
    api("/v1/alerts?state=open&limit=20")
  ])
  const totals = timeline.rows.reduce(
    (sum, row) => ({
      hard: sum.hard + row.hard,
      soft: sum.soft + row.soft,
      delayed: sum.delayed + row.delayed,
      complaints: sum.complaints + row.complaints
    }),
    { hard: 0, soft: 0, delayed: 0, complaints: 0 }
  )
  const rangeButtons = h(
    "div",
    { class: "segmented", role: "group", "aria-label": "Time range" },
    Object.keys(ranges).map((key) =>
      h(
        "button",
        {
          type: "button",
          class: key === state.range ? "on" : "",
          onclick: () => {
            state.range = key
            render()
          }
        },
        key === "24h" ? "24 hours" : key === "7d" ? "7 days" : "30 days"
      )
    )
  )
  const kpi = (label, value, hint, color) =>
    h(
      "div",
      { class: "panel kpi" },
      h("div", { class: "label" }, label),
      h("div", { class: "value", style: color ? `color:${color}` : "" }, number(value)),
      h("div", { class: "hint" }, hint)
    )
  const timelineCanvas = h("canvas", { id: "timeline-chart", "aria-label": "Bounces over time, stacked by type" })
  const reasonsCanvas = h("canvas", { id: "reasons-chart", "aria-label": "Top reasons" })
  main.replaceChildren(
    h(
      "div",
      { class: "page-head" },
      h("div", {}, h("h1", {}, "Overview"), h("div", { class: "sub" }, "Bounces, reasons and receiving domains")),
      rangeButtons
    ),
    alerts.rows.length > 0
      ? h("div", { class: "banner" }, `${alerts.rows.length} open alert(s): `, alerts.rows[0].message)
      : null,
    h(
      "div",
      { class: "grid kpis" },
      kpi("Hard bounces", totals.hard, "quarantine the address", palette.hard),
      kpi("Soft bounces", totals.soft, "counted, retried", palette.soft),
      kpi("Delays", totals.delayed, "still being retried"),
      kpi("Complaints", totals.complaints, "denylisted", palette.complaints),
      kpi(
        "New quarantines",
        quarantines.rows.length,
        quarantines.rows.length >= 1000 ? "1,000 or more" : "quarantined or denylisted"
      )
    ),
    h("div", { class: "panel" }, h("h2", {}, "Bounces over time"), h("div", { class: "chart-box" }, timelineCanvas)),
    h(
      "div",
      { class: "grid two" },
      h(
        "div",
        { class: "panel" },
        h("h2", {}, "Top reasons"),
        reasons.rows.length === 0
          ? h("div", { class: "empty" }, "No bounce in this range.")
          : h("div", { class: "chart-box short" }, reasonsCanvas)
      ),
      h(
        "div",
        { class: "panel" },
        h("h2", {}, "Top receiving domains"),
        table(
          [
            { label: "Domain", cell: (r) => r.domain, class: "nowrap" },
            { label: "Sent", num: true, cell: (r) => number(r.sent) },
            { label: "Hard", num: true, cell: (r) => number(r.hard) },
            { label: "Soft", num: true, cell: (r) => number(r.soft) },
            { label: "Hard rate", num: true, cell: (r) => rateCell(r.hardRate, palette.hard) },
            { label: "Soft rate", num: true, cell: (r) => rateCell(r.softRate, palette.soft) }
          ],
          domains.rows,
          "No receiving domain in this range."
        )
      )
    ),
    h(
      "div",
      { class: "grid two" },
      h(
        "div",
        { class: "panel" },
        h("h2", {}, "New quarantines"),
        table(
          [
            { label: "Address", cell: (r) => addressLink(r.address), class: "wrap" },
            { label: "Status", cell: (r) => [badge(r.to), r.suspect ? [" ", badge("suspect")] : null] },
            { label: "Reason", cell: (r) => r.reason ?? "–" },
            { label: "When", cell: (r) => when(r.at) }
          ],
          quarantines.rows.slice(0, 10),
          "No address was quarantined in this range."
        )
      ),
      h(
        "div",
        { class: "panel" },
        h("h2", {}, "Open alerts"),
        alerts.rows.length === 0
          ? h("div", { class: "empty" }, "No open alert. Bounce rates, outage guard and mailboxes look fine.")
          : h("div", { class: "alert-list" }, alerts.rows.map(alertItem))
      )
    )
  )
  if (typeof Chart !== "undefined") {
    timelineChart(timelineCanvas, timeline.rows, bucket)
    if (reasons.rows.length > 0) reasonsChart(reasonsCanvas, reasons.rows)
  }
}

const actionLabels = {
  release: ["Release", "Takes the address out of quarantine and off any list, and resets its error counter."],
  allow: ["Allow", "Puts the address on the allowlist: it stays sendable whatever bounces arrive."],
  deny: ["Deny", "Puts the address on the denylist: senders must not mail it."],
  confirm: ["Confirm", "Confirms a quarantine the outage guard held as suspect."]
}

const askAction = (action, address) =>
  new Promise((resolve) => {
    const dialog = document.getElementById("action-dialog")
    const [title, text] = actionLabels[action]
    document.getElementById("action-title").textContent = `${title} ${address}?`
    document.getElementById("action-text").textContent = text
    document.getElementById("action-submit").textContent = title
    const why = document.getElementById("action-why")
    why.value = ""
    const form = document.getElementById("action-form")
    const cancel = document.getElementById("action-cancel")
    const done = (result) => {
      form.onsubmit = null
      cancel.onclick = null
      dialog.close()
      resolve(result)
    }
    form.onsubmit = (event) => {
      event.preventDefault()
      done({ why: why.value.trim() })
    }
    cancel.onclick = () => done(null)
    dialog.showModal()
    why.focus()
  })

const addressPage = async (main, address) => {
  const input = h("input", {
    type: "search",
    id: "address-search",
    placeholder: "an address, e.g. jane@example.com",
    value: address ?? "",
    "aria-label": "Address"
  })
  const form = h(
    "form",
    {
      class: "search",
      onsubmit: (event) => {
        event.preventDefault()
        const value = input.value.trim()
        if (value) location.hash = `#/addresses/${encodeURIComponent(value)}`
      }
    },
    input,
    h("button", { type: "submit", class: "primary" }, "Look up")
  )
  const head = h(
    "div",
    { class: "page-head" },
    h("div", {}, h("h1", {}, "Addresses"), h("div", { class: "sub" }, "Status, history, and operator decisions"))
  )
  if (!address) {
    main.replaceChildren(
      head,
      form,
      h("div", { class: "panel empty" }, "Look up an address to see its status and history.")
    )
    input.focus()
    return
  }
  let detail
  try {
    detail = await api(`/v1/addresses/${encodeURIComponent(address)}`)
  } catch (error) {
    main.replaceChildren(head, form, h("div", { class: "panel error" }, error.message))
    return
  }
  const act = async (action) => {
    const answer = await askAction(action, detail.address)
    if (answer === null) return
    try {
      const result = await api(`/v1/addresses/${encodeURIComponent(detail.address)}/${action}`, {
        method: "POST",
        body: answer.why ? { why: answer.why } : {}
      })
      toast(result.changed ? `${detail.address} is now ${result.address.status}` : `${detail.address} was already so`)
      render()
    } catch (error) {
      toast(error.message, true)
    }
  }
  const admin = isAdmin()
  const button = (action, kind) =>
    h(
      "button",
      {
        type: "button",
        class: kind,
        "data-action": action,
        disabled: !admin,
        title: admin ? actionLabels[action][1] : "Needs an admin token",
        onclick: () => act(action)
      },
      actionLabels[action][0]
    )
  const q = detail.quarantine
  main.replaceChildren(
    head,
    form,
    h(
      "div",
      { class: "panel" },
      h(
        "div",
        { class: "address-head" },
        h(
          "div",
          {},
          h("div", { class: "who" }, detail.address),
          h(
            "div",
            { style: "margin-top:6px", id: "address-status" },
            badge(detail.status),
            " ",
            q?.suspect ? badge("suspect") : null,
            " ",
            h("span", { class: "muted" }, detail.sendable ? "may be mailed" : "must not be mailed")
          )
        ),
        h(
          "div",
          { class: "buttons" },
          button("release", "primary"),
          button("allow", "secondary"),
          button("deny", "danger"),
          q?.suspect ? button("confirm", "secondary") : null
        )
      ),
      h(
        "div",
        { class: "facts" },
        h("div", {}, h("span", {}, "Errors counted"), number(detail.errorCount)),
        h(
          "div",
          {},
          h("span", {}, "Last error"),
          detail.lastErrorAt ? [detail.lastErrorReason, " · ", when(detail.lastErrorAt)] : "none"
        ),
        h(
          "div",
          {},
          h("span", {}, "Quarantine"),
          q ? [q.reason, " (", q.type, ", ", q.cause, ") · ", when(q.at)] : "none"
        ),
        h("div", {}, h("span", {}, "List"), detail.list ?? "none")
      ),
      admin
        ? null
        : h("div", { class: "note" }, "Release, allow and deny need an admin token (Use a token, bottom left).")
    ),
    h(
      "div",
      { class: "panel", style: "margin-top:16px" },
      h("h2", {}, "History"),
      table(
        [
          { label: "When", cell: (r) => when(r.at) },
          { label: "Change", cell: (r) => [badge(r.from), " → ", badge(r.to)] },
          { label: "Cause", cell: (r) => r.cause },
          { label: "Reason", cell: (r) => r.reason ?? "–" },
          { label: "Who", cell: (r) => r.who },
          { label: "Why", cell: (r) => r.why, class: "wrap" }
        ],
        [...detail.history].reverse(),
        "No change recorded: the address was never bounced or decided on."
      )
    ),
    h(
      "div",
      { class: "panel", style: "margin-top:16px" },
      h("h2", {}, "Recent bounces"),
      table(
        [
          { label: "Received", cell: (r) => when(r.receivedAt) },
          { label: "Kind", cell: (r) => r.kind },
          { label: "Type", cell: (r) => badge(r.type) },
          { label: "Reason", cell: (r) => r.reason },
          { label: "Status", cell: (r) => r.status ?? "–", class: "mono" },
          { label: "Diagnostic", cell: (r) => r.diagnostic ?? "–", class: "wrap mono" },
          { label: "Delivery", cell: (r) => r.deliveryId ?? "–" }
        ],
        detail.recentBounces,
        "No bounce received for this address."
      )
    )
  )
}

const qualificationPage = async (main) => {
  const filter = state.review ?? "to-qualify"
  const data = await api(`/v1/qualification?limit=200${filter === "all" ? "" : `&review=${filter}`}`)
  const admin = isAdmin()
  const review = async (row, value) => {
    try {
      await api(`/v1/qualification/${row.textKey}/review`, { method: "POST", body: { review: value } })
      toast(`Marked "${value}"`)
      render()
    } catch (error) {
      toast(error.message, true)
    }
  }
  const select = h(
    "select",
    {
      "aria-label": "Review status",
      onchange: (event) => {
        state.review = event.target.value
        render()
      }
    },
    [
      ["to-qualify", "To qualify"],
      ["keep", "Kept"],
      ["ignore", "Ignored"],
      ["all", "All"]
    ].map(([value, label]) => h("option", { value, selected: value === filter }, label))
  )
  main.replaceChildren(
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        {},
        h("h1", {}, "Qualification log"),
        h(
          "div",
          { class: "sub" },
          "Diagnostic texts as servers sent them, most frequent first. Unknown ones need a rule."
        )
      ),
      h("div", { class: "toolbar" }, select)
    ),
    h(
      "div",
      { class: "panel" },
      table(
        [
          { label: "Seen", num: true, cell: (r) => number(r.seen) },
          { label: "Text", cell: (r) => h("span", { title: r.sample }, r.text), class: "wrap mono" },
          { label: "Qualified as", cell: (r) => [badge(r.type), " ", r.reason] },
          { label: "Status", cell: (r) => r.status ?? "–", class: "mono" },
          { label: "Last seen", cell: (r) => when(r.lastSeen) },
          { label: "Review", cell: (r) => badge(r.review) },
          {
            label: "",
            cell: (r) =>
              h(
                "div",
                { class: "buttons" },
                ["keep", "ignore", "to-qualify"]
                  .filter((value) => value !== r.review)
                  .map((value) =>
                    h(
                      "button",
                      {
                        type: "button",
                        class: "small",
                        "data-review": value,
                        disabled: !admin,
                        title: admin ? "" : "Needs an admin token",
                        onclick: () => review(r, value)
                      },
                      value === "keep" ? "Keep" : value === "ignore" ? "Ignore" : "To qualify"
                    )
                  )
              )
          }
        ],
        data.rows,
        filter === "to-qualify" ? "Nothing to review: every text was qualified by a rule." : "No text here."
      )
    )
  )
}

const accountsPage = async (main) => {
  const [accounts, webhooks] = await Promise.all([api("/v1/accounts"), api("/v1/webhooks?limit=10")])
  main.replaceChildren(
    h(
      "div",
      { class: "page-head" },
      h("div", {}, h("h1", {}, "Accounts"), h("div", { class: "sub" }, "Bounce mailboxes this process empties"))
    ),
    h(
      "div",
      { class: "panel" },
      table(
        [
          {
            label: "Account",
            cell: (r) => [h("div", {}, r.account), h("div", { class: "muted" }, r.kind)],
            class: "wrap"
          },
          { label: "State", cell: (r) => badge(r.state) },
          { label: "Last poll", cell: (r) => when(r.lastPollAt) },
          { label: "Last success", cell: (r) => when(r.lastSuccessAt) },
          { label: "Mails waiting", num: true, cell: (r) => number(r.mailsWaiting) },
          { label: "Fetched", num: true, cell: (r) => number(r.fetched) },
          { label: "Applied", num: true, cell: (r) => number(r.applied) },
          { label: "Failed", num: true, cell: (r) => number(r.failed) },
          {
            label: "Errors",
            cell: (r) =>
              r.consecutiveFailures > 0
                ? [
                    h("div", {}, `${r.consecutiveFailures} failed poll(s) in a row`),
                    h("div", { class: "muted" }, r.lastError ?? "")
                  ]
                : h("span", { class: "muted" }, r.lastError ?? "none"),
            class: "wrap"
          }
        ],
        accounts.rows,
        "No account is polled by this process."
      )
    ),
    h(
      "div",
      { class: "panel", style: "margin-top:16px" },
      h("h2", {}, "Webhooks"),
      h(
        "div",
        { class: "muted", style: "margin-bottom:8px" },
        `${number(webhooks.counts.pending)} pending · ${number(webhooks.counts.delivered)} delivered · ${number(webhooks.counts.failed)} given up`
      ),
      table(
        [
          { label: "Event", cell: (r) => r.eventType },
          { label: "URL", cell: (r) => r.url, class: "wrap mono" },
          { label: "State", cell: (r) => badge(r.state) },
          { label: "Attempts", num: true, cell: (r) => number(r.attempts) },
          { label: "Created", cell: (r) => when(r.createdAt) },
          { label: "Last error", cell: (r) => r.lastError ?? "–", class: "wrap" }
        ],
        webhooks.rows,
        "No webhook event yet."
      )
    )
  )
}

const alertsPage = async (main) => {
  const all = await api("/v1/alerts?state=all&limit=200")
  const open = all.rows.filter((alert) => alert.resolvedAt === null)
  const closed = all.rows.filter((alert) => alert.resolvedAt !== null)
  main.replaceChildren(
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        {},
        h("h1", {}, "Alerts"),
        h("div", { class: "sub" }, "Bounce rates per delivery, the outage guard per domain, polling per account")
      )
    ),
    h(
      "div",
      { class: "panel" },
      h("h2", {}, `Open (${open.length})`),
      open.length === 0
        ? h("div", { class: "empty" }, "No open alert.")
        : h("div", { class: "alert-list" }, open.map(alertItem))
    ),
    h(
      "div",
      { class: "panel", style: "margin-top:16px" },
      h("h2", {}, "Resolved"),
      closed.length === 0
        ? h("div", { class: "empty" }, "No resolved alert.")
        : h("div", { class: "alert-list" }, closed.map(alertItem))
    )
  )
}

// ---- routing

const pages = {
  overview,
  addresses: addressPage,
  qualification: qualificationPage,
  accounts: accountsPage,
  alerts: alertsPage
}

const render = async () => {
  const [page, ...rest] = location.hash.replace(/^#\/?/, "").split("/")
  const name = pages[page] ? page : "overview"
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.dataset.page === name)
  const main = document.getElementById("main")
  destroyCharts()
  try {
    await pages[name](main, rest.length > 0 ? decodeURIComponent(rest.join("/")) : undefined)
    main.dataset.ready = name
  } catch (error) {
    main.replaceChildren(
      h(
        "div",
        { class: "panel" },
        h("h2", {}, error.status === 401 ? "This dashboard needs a token" : "Could not load this page"),
        h("p", { class: "muted" }, error.message)
      )
    )
  }
  refreshAlertCount()
}

const refreshAlertCount = async () => {
  try {
    const open = await api("/v1/alerts?state=open&limit=100")
    const count = document.getElementById("alert-count")
    count.hidden = open.rows.length === 0
    count.textContent = String(open.rows.length)
  } catch {
    // the page itself shows why the API cannot be read
  }
}

const start = async () => {
  document.getElementById("sign-in").addEventListener("click", () => openTokenDialog())
  document.getElementById("token-form").addEventListener("submit", async (event) => {
    event.preventDefault()
    const value = document.getElementById("token-input").value.trim()
    if (value) localStorage.setItem(tokenKey, value)
    document.getElementById("token-dialog").close()
    await loadSession()
    render()
  })
  document.getElementById("token-clear").addEventListener("click", async () => {
    localStorage.removeItem(tokenKey)
    document.getElementById("token-input").value = ""
    document.getElementById("token-dialog").close()
    await loadSession()
    render()
  })
  window.addEventListener("hashchange", render)
  await loadSession()
  await render()
}

start()
