// The live timeline: starts runs with `POST api/runs` and draws each one from its Server-Sent
// Events as they arrive. A lane per conversation (or run) and agent path, so sub-agents and
// handoff targets get lanes of their own; a bar per model call and tool call on a shared time
// axis (the server's clock); failures and interruptions in red with their reason.
//
// Everything drawn is derived from `bars` and `markers` (see `handlers`). A call that waits for
// approval (`ApprovalRequested`) is a "waiting" bar with Approve / Deny buttons (`actionsOf`) that
// post `api/runs/:runId/approvals/:callId`; `ApprovalDecided` sets it running again.

const lanes = new Map() // key -> { key, conversation, agent, element, track }
const bars = new Map() // id -> { id, lane, kind, name, start, end, status, reason }
const markers = [] // { lane, at, outcome, text }
let origin // the server timestamp of the first event
let offset = Infinity // browser clock minus server clock, for bars still running

const $ = (selector) => document.querySelector(selector)

// -----------------------------------------------------------------------------
// the model: events in, bars and markers out
// -----------------------------------------------------------------------------

/** A run as the page sees it: its conversation, its open bars, its open model call per agent, how it ended. */
const makeRun = (request) => ({ conversation: request.conversationId, runId: undefined, open: new Set(), models: new Map(), ended: false })

const laneOf = (run, agent) => {
  const conversation = run.conversation ?? `run ${run.runId}`
  const key = `${conversation} · ${agent}`
  let lane = lanes.get(key)
  if (lane === undefined) {
    lane = { key, conversation, agent, rows: [] } // rows: the last bar placed in each row
    lanes.set(key, lane)
  }
  return lane
}

/** Open a bar in the first row of its lane that is free at its start, so parallel calls stack up. */
const open = (run, id, event, kind, name) => {
  const lane = laneOf(run, event.agent)
  let row = lane.rows.findIndex((last) => last.end !== undefined && last.end <= event.timestamp)
  if (row < 0) row = lane.rows.length
  const bar = { id, lane, row, kind, name, start: event.timestamp, end: undefined, status: "running", reason: "" }
  lane.rows[row] = bar
  bars.set(id, bar)
  run.open.add(id)
}

const close = (run, id, at, status, reason = "") => {
  const bar = bars.get(id)
  if (bar === undefined || bar.end !== undefined) return
  Object.assign(bar, { end: at, status, reason })
  run.open.delete(id)
}

/** Close the bars still open: all of them when the run ends, those of one sub-agent run when only it failed. */
const closeAll = (run, at, status, reason, runId) => {
  for (const id of [...run.open]) if (runId === undefined || id.startsWith(`${runId}|`)) close(run, id, at, status, reason)
}

/** One model call at a time per run and agent: its attempts are separate bars. */
const openModel = (run, event) => {
  const id = `${event.runId}|${event.agent}|model|${event.turn}|${event.attempt}`
  run.models.set(`${event.runId}|${event.agent}`, id)
  open(run, id, event, "model", event.attempt > 1 ? `model (attempt ${event.attempt})` : "model")
}

const closeModel = (run, event, status, reason) => close(run, run.models.get(`${event.runId}|${event.agent}`), event.timestamp, status, reason)

const toolId = (event) => `${event.runId}|${event.callId}`

/** A run (or a sub-agent's run) ended: a marker on its lane; the page's run is over when its root run is. */
const end = (run, event, outcome, text) => {
  if (event.runId === run.runId) run.ended = true
  markers.push({ lane: laneOf(run, event.agent), at: event.timestamp, outcome, text })
}

/** What each frame does to the drawing. */
const handlers = {
  RunStarted: (run, event) => {
    run.runId ??= event.runId
    laneOf(run, event.agent)
  },
  ModelRequested: openModel,
  RetryScheduled: (run, event) => closeModel(run, event, "retry", `${event.error}: retry in ${event.delayMillis} ms`),
  ModelResponded: (run, event) => closeModel(run, event, "ok"),
  ToolCallStarted: (run, event) => open(run, toolId(event), event, "tool", event.tool),
  ToolCallSucceeded: (run, event) => close(run, toolId(event), event.timestamp, "ok"),
  ToolCallFailed: (run, event) => close(run, toolId(event), event.timestamp, "failed", `${event.kind}: ${event.error}`),
  ToolCallInterrupted: (run, event) => close(run, toolId(event), event.timestamp, "interrupted", `interrupted: ${event.reason}`),
  ApprovalRequested: (_run, event) => waitFor(toolId(event), event),
  ApprovalDecided: (_run, event) => decided(toolId(event), event),
  HandoffStarted: (run, event) => laneOf(run, `${event.agent}/${event.target}`),
  RunCompleted: (run, event) => end(run, event, "completed", "completed"),
  RunFailed: (run, event) => {
    closeAll(run, event.timestamp, "interrupted", `interrupted: ${event.error}`, event.runId === run.runId ? undefined : event.runId)
    end(run, event, "failed", `failed: ${event.message}`)
  },
  RunInterrupted: (run, event) => {
    closeAll(run, event.timestamp, "interrupted", `interrupted: ${event.reason}`)
    end(run, event, "interrupted", `interrupted: ${event.reason}`)
  },
  RunNotStarted: (_run, event) => showError(`The run did not start: ${event.message}`)
}

const handle = (run, frame) => {
  if (typeof frame.timestamp === "number") {
    origin ??= frame.timestamp
    offset = Math.min(offset, Date.now() - frame.timestamp)
  }
  handlers[frame._tag]?.(run, frame)
  draw()
}

/** A tool call waits for approval: its bar is "waiting", with buttons to decide. */
const waitFor = (id, event) => {
  const bar = bars.get(id)
  if (bar === undefined) return
  Object.assign(bar, { status: "waiting", reason: "waiting for approval", approval: { runId: event.runId, callId: event.callId } })
}

const decided = (id, event) => {
  const bar = bars.get(id)
  if (bar === undefined || bar.end !== undefined) return
  Object.assign(bar, {
    status: "running",
    reason: event.approved ? "approved" : `denied: ${event.reason ?? ""}`,
    approval: undefined,
    actions: undefined
  })
}

/** Post a decision on a waiting call. */
const decide = async (bar, approve) => {
  const { callId, runId } = bar.approval
  bar.approval = undefined
  bar.actions = undefined
  const response = await fetch(`api/runs/${runId}/approvals/${callId}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(approve ? { approve } : { approve, reason: "denied from the timeline page" })
  })
  if (!response.ok) showError((await response.json()).message)
  draw()
}

/** Buttons shown on a bar: Approve / Deny on a call that waits for approval (made once, kept across draws). */
const actionsOf = (bar) => {
  if (bar.approval === undefined) return []
  bar.actions ??= [["approve", "Approve", true], ["deny", "Deny", false]].map(([action, label, approve]) => {
    const button = document.createElement("button")
    button.className = "action"
    button.dataset.action = action
    button.textContent = label
    button.onclick = () => decide(bar, approve)
    return button
  })
  return bar.actions
}

// -----------------------------------------------------------------------------
// the wire: Server-Sent Events over fetch (EventSource cannot POST), resumed with Last-Event-ID
// -----------------------------------------------------------------------------

/** The frames of an SSE response: `{ id, data }` for each event block (comments skipped). */
async function* framesOf(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ""
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return
    buffer += value
    let end
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      const fields = {}
      for (const line of block.split("\n")) {
        const colon = line.indexOf(":")
        if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1).replace(/^ /, "")
      }
      if (fields.data !== undefined) yield { id: Number(fields.id), data: JSON.parse(fields.data) }
    }
  }
}

const startRun = async (request) => {
  const run = makeRun(request)
  let lastId = 0
  let response = await fetch("api/runs", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify(request)
  })
  for (let attempt = 0; attempt < 3; attempt++) {
    if (!response.ok) return showError((await response.json()).message)
    run.runId ??= response.headers.get("x-run-id") ?? undefined
    try {
      for await (const frame of framesOf(response)) {
        lastId = frame.id
        handle(run, frame.data)
      }
    } catch {
      // the connection dropped: resume below
    }
    if (run.ended || run.runId === undefined) break
    await new Promise((resolve) => setTimeout(resolve, 300))
    response = await fetch(`api/runs/${run.runId}/events`, { headers: { "last-event-id": String(lastId) } })
  }
  if (!run.ended) {
    closeAll(run, now(), "interrupted", "connection lost")
    draw()
  }
}

const showError = (message) => {
  $("#errors").textContent = message
}

// -----------------------------------------------------------------------------
// drawing
// -----------------------------------------------------------------------------

const now = () => Date.now() - offset
const rowHeight = 22

const draw = () => {
  if (origin === undefined) return
  $("#empty").hidden = true
  const running = [...bars.values()].some((bar) => bar.end === undefined)
  const latest = Math.max(origin + 1000, ...[...bars.values()].map((bar) => bar.end ?? now()), ...markers.map((m) => m.at))
  const width = $("#axis").clientWidth
  const scale = (width - 160) / (latest - origin) // px per ms, leaving room for reasons
  const x = (at) => Math.round((at - origin) * scale)

  drawAxis(scale, latest)
  for (const lane of lanes.values()) {
    if (lane.element === undefined) {
      lane.element = document.createElement("div")
      lane.element.className = "lane"
      lane.element.dataset.lane = lane.key
      lane.element.innerHTML = `<div class="lane-label"><b></b><br><small></small></div><div class="track"></div>`
      lane.element.querySelector("small").textContent = lane.conversation
      lane.element.querySelector("b").textContent = lane.agent.replaceAll("/", " / ")
      lane.track = lane.element.lastChild
      $("#lanes").append(lane.element)
    }
  }
  for (const bar of bars.values()) {
    bar.element ??= lanes.get(bar.lane.key).track.appendChild(document.createElement("div"))
    const element = bar.element
    element.className = "bar"
    Object.assign(element.dataset, { kind: bar.kind, status: bar.status, reason: bar.reason, agent: bar.lane.agent })
    element.style.left = `${x(bar.start)}px`
    element.style.top = `${6 + bar.row * rowHeight}px`
    element.style.width = `${Math.max(3, x(bar.end ?? now()) - x(bar.start))}px`
    element.title = `${bar.name}: ${bar.status}${bar.reason ? ` (${bar.reason})` : ""}, ${Math.round((bar.end ?? now()) - bar.start)} ms`
    // the contents are rebuilt only when they change: a button replaced or moved under the pointer between
    // mouse down and up would lose the click (a running bar is drawn at every animation frame)
    const label = `${bar.name}\n${bar.reason ?? ""}`
    if (element.dataset.label !== label) {
      element.dataset.label = label
      element.innerHTML = `<span class="name"></span>${bar.reason ? `<span class="reason"></span>` : ""}`
      element.querySelector(".name").textContent = bar.name
      if (bar.reason) element.querySelector(".reason").textContent = bar.reason
    }
    const actions = actionsOf(bar)
    for (const button of element.querySelectorAll("button.action")) if (!actions.includes(button)) button.remove()
    for (const action of actions) if (action.parentElement !== element) element.append(action)
  }
  for (const lane of lanes.values()) {
    const marked = markers.some((marker) => marker.lane === lane)
    lane.track.style.height = `${12 + Math.max(1, lane.rows.length) * rowHeight + (marked ? 16 : 0)}px`
  }
  for (const marker of markers) {
    marker.element ??= lanes.get(marker.lane.key).track.appendChild(document.createElement("div"))
    marker.element.className = "marker"
    marker.element.dataset.outcome = marker.outcome
    marker.element.style.left = `${x(marker.at)}px`
    marker.element.innerHTML = "<span></span>"
    marker.element.firstChild.textContent = marker.text
  }
  if (running) requestAnimationFrame(draw)
}

const drawAxis = (scale, latest) => {
  const span = latest - origin
  const step = [100, 250, 500, 1000, 2000, 5000, 10000, 30000, 60000].find((s) => span / s <= 12) ?? 120000
  const axis = $("#axis")
  axis.replaceChildren()
  for (let t = 0; t <= span; t += step) {
    const tick = document.createElement("div")
    tick.className = "tick"
    tick.style.left = `${Math.round(t * scale)}px`
    tick.innerHTML = `<span>${t < 1000 ? `${t} ms` : `${t / 1000} s`}</span>`
    axis.append(tick)
  }
}

// -----------------------------------------------------------------------------
// controls
// -----------------------------------------------------------------------------

const setup = async () => {
  const { agents, scenarios } = await (await fetch("scenarios")).json()
  for (const scenario of scenarios) {
    const button = document.createElement("button")
    button.textContent = scenario.label
    button.dataset.agent = scenario.agent
    button.onclick = () => startRun({ agent: scenario.agent, prompt: scenario.prompt })
    $("#scenarios").append(button)
  }
  for (const agent of agents) $("#custom select").append(new Option(agent, agent))
  $("#custom").onsubmit = (event) => {
    event.preventDefault()
    const form = new FormData(event.target)
    const conversationId = form.get("conversationId").trim()
    startRun({ agent: form.get("agent"), prompt: form.get("prompt"), ...(conversationId ? { conversationId } : {}) })
  }
  addEventListener("resize", draw)
}

setup()
