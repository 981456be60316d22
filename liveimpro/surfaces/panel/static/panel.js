// The liveimpro panel: one WebSocket to the panel server, which relays the daemon's events
// and status and passes our requests on. Everything shown comes from the daemon; a control
// only ever asks it for a change, and shows what the daemon then reports.
"use strict";

const TICKS_PER_BEAT = 24;
const BEATS_BEHIND = 16; // of the roll, left of the clock
const BEATS_AHEAD = 4; // right of it: where the queued answer shows
const RECONNECT_MS = 1000;
const MAX_DELAYS = 5000;

const page = {
  socket: null,
  live: false, // the panel server and the daemon both answer
  specs: {},
  values: {}, // parameter -> the daemon's value
  status: null,
  tick: null, // the latest tick reported, and when (performance.now()) it arrived
  tickAt: 0,
  bpm: 120,
  rolling: false,
  notes: [], // {source, pitch, start, end (null: sounding)}
  sounding: new Map(), // "source pitch" -> note
  beatsPerBar: 4,
  wallMinusMonotonic: 0,
  nextId: 1,
  pending: new Map(), // request id -> callback
  fresh: [], // note events' daemon times, waiting for the frame that draws them
  drawDelays: [], // ms from a note event in the daemon to the frame that drew it
};
window.liveimpro = page; // for the tests and the curious

const $ = (id) => document.getElementById(id);

// Connection ------------------------------------------------------------------------------

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws`);
  page.socket = socket;
  socket.onmessage = (message) => receive(JSON.parse(message.data));
  socket.onclose = () => {
    page.socket = null;
    setLive(false);
    setTimeout(connect, RECONNECT_MS);
  };
}

function setLive(live) {
  if (live && !page.live) request({cmd: "models"}, showModels);
  page.live = live;
  $("connection").textContent = live ? "live" : "disconnected";
  $("connection").className = live ? "live" : "disconnected";
}

function request(body, onReply) {
  if (!page.socket || page.socket.readyState !== WebSocket.OPEN) {
    showError("disconnected: the request was not sent");
    return;
  }
  const id = page.nextId++;
  if (onReply) page.pending.set(id, onReply);
  page.socket.send(JSON.stringify({id, request: body}));
}

function receive(message) {
  if (message.type === "hello") {
    page.specs = message.parameters;
    page.wallMinusMonotonic = message.wall_minus_monotonic;
    buildControls(message.scales);
  } else if (message.type === "status") {
    showStatus(message.status);
  } else if (message.type === "event") {
    onEvent(message.event);
  } else if (message.type === "reply") {
    const onReply = page.pending.get(message.id);
    page.pending.delete(message.id);
    if (!message.ok) showError(message.error);
    if (onReply) onReply(message);
  }
}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = false;
}

// Status and events -----------------------------------------------------------------------

function showStatus(status) {
  page.status = status;
  setLive(status !== null);
  if (status === null) return;
  $("state").textContent = status.state;
  $("model").textContent = status.model + (status.next_model ? ` (next: ${status.next_model})` : "");
  setTempo(status.tempo);
  page.rolling = status.clock.rolling;
  const source = status.clock.source === "internal" ? "internal" : "following";
  $("clock").textContent = `${source}, ${status.clock.rolling ? "rolling" : "stopped"}`;
  const counters = status.counters;
  const latency = counters.last_response_latency_ms;
  $("latency").textContent = latency === null ? "–" : `${latency.toFixed(1)} ms`;
  for (const name of ["phrases", "responses", "notes_out"]) $(name).textContent = counters[name];
  $("mute").textContent = status.state === "muted" ? "unmute" : "mute";
  $("mute").classList.toggle("on", status.state === "muted");
  for (const [name, value] of Object.entries(status.parameters)) showValue(name, value);
  if (status.tick !== null && (page.tick === null || Math.abs(status.tick - nowTick()) > TICKS_PER_BEAT)) {
    setTick(status.tick);
  }
}

function setTempo(bpm) {
  page.bpm = bpm;
  $("tempo").textContent = `${bpm} bpm`;
}

function setTick(tick) {
  page.tick = tick;
  page.tickAt = performance.now();
}

function onEvent(event) {
  switch (event.event) {
    case "note": return onNote(event);
    case "tick": setTick(event.tick); setTempo(event.bpm); page.rolling = true; return;
    case "tempo": return setTempo(event.bpm);
    case "param_changed": return showValue(event.name, event.value);
    case "clock_stop": page.rolling = false; return;
    case "clock_start": page.rolling = true; return;
    case "response_end": return cutAnswer(event.tick);
    case "phrase_end": if (event.dropped) endSounding("phrase", nowTick()); return;
    case "action":
      if (event.name === "panic") { endSounding("phrase", nowTick()); cutAnswer(nowTick()); }
      return;
    case "warning": case "error": case "missed": return showError(event.message);
  }
}

function onNote(event) {
  const key = `${event.source} ${event.pitch}`;
  const open = page.sounding.get(key);
  if (open) { open.end = event.tick; page.sounding.delete(key); }
  if (event.velocity > 0) {
    const note = {source: event.source, pitch: event.pitch, start: event.tick, end: null};
    page.notes.push(note);
    page.sounding.set(key, note);
  }
  page.fresh.push(event.time);
}

function endSounding(source, tick) {
  for (const [key, note] of page.sounding) {
    if (note.source === source) { note.end = Math.max(note.start, tick); page.sounding.delete(key); }
  }
}

// An answer stopped early: what was queued beyond ``tick`` never sounded.
function cutAnswer(tick) {
  endSounding("answer", tick);
  page.notes = page.notes.filter((note) => note.source !== "answer" || note.start < tick);
  for (const note of page.notes) if (note.source === "answer" && note.end > tick) note.end = tick;
}

// Controls --------------------------------------------------------------------------------

function stepOf(spec) {
  if (spec.type === "int") return 1;
  const span = spec.high - spec.low;
  return span <= 1 ? 0.01 : span <= 20 ? 0.05 : 0.5;
}

function buildControls(scales) {
  const box = $("parameters");
  box.replaceChildren();
  for (const [name, spec] of Object.entries(page.specs)) {
    const label = document.createElement("label");
    label.textContent = name.replaceAll("_", " ");
    label.title = `${spec.setting}: ${spec.doc}`;
    const control = makeControl(name, spec, scales);
    control.id = `param-${name}`;
    label.htmlFor = control.id;
    const value = document.createElement("output");
    value.id = `value-${name}`;
    value.textContent = name in page.values ? format(page.values[name]) : "–";
    box.append(label, control, value);
  }
  if (page.status) showStatus(page.status);
}

function makeControl(name, spec, scales) {
  let control;
  if (spec.choices) {
    control = document.createElement("select");
    for (const choice of spec.choices) control.add(new Option(choice, choice));
  } else if (spec.type === "bool") {
    control = document.createElement("input");
    control.type = "checkbox";
  } else if (spec.type === "str") {
    control = document.createElement("input");
    control.type = "text";
    control.setAttribute("list", `${name}-choices`);
    let list = $(`${name}-choices`); // kept across reconnections
    if (!list) {
      list = document.createElement("datalist");
      list.id = `${name}-choices`;
      document.body.append(list);
    }
    list.replaceChildren(...scales.map((scale) => new Option(scale)));
  } else {
    const step = stepOf(spec);
    control = document.createElement("input");
    control.type = spec.high - spec.low <= 300 ? "range" : "number";
    control.step = step;
    control.min = spec.low_exclusive ? spec.low + step : spec.low;
    control.max = spec.high;
  }
  control.addEventListener("change", () => setParameter(name, spec, control));
  return control;
}

function setParameter(name, spec, control) {
  let value = control.value;
  if (spec.type === "bool") value = control.checked;
  else if (spec.type === "int") value = parseInt(value, 10);
  else if (spec.type === "float") value = parseFloat(value);
  request({cmd: "set", name, value}, (reply) => {
    if (reply.ok) $("error").hidden = true;
    else showValue(name, page.values[name]); // back to what the daemon holds
  });
}

function format(value) {
  return typeof value === "number" && !Number.isInteger(value) ? String(+value.toFixed(4)) : String(value);
}

function showValue(name, value) {
  page.values[name] = value;
  const text = $(`value-${name}`);
  if (text) text.textContent = format(value);
  const control = $(`param-${name}`);
  if (!control || (control.type === "text" && document.activeElement === control)) return;
  if (control.type === "checkbox") control.checked = value;
  else control.value = value;
}

function showModels(reply) {
  if (!reply.ok) return;
  const select = $("models");
  const names = reply.models.includes(reply.current) ? reply.models : [reply.current, ...reply.models];
  select.replaceChildren(...names.map((name) => new Option(name, name)));
  select.value = reply.current;
}

function wireButtons() {
  $("panic").onclick = () => request({cmd: "panic"});
  $("mute").onclick = () => request({cmd: page.status && page.status.state === "muted" ? "unmute" : "mute"});
  $("loop").onclick = () => request({cmd: "loop"});
  $("mutate").onclick = () => request({cmd: "mutate"});
  $("load_model").onclick = () => request({cmd: "load_model", name: $("models").value});
}

// The piano roll --------------------------------------------------------------------------

function nowTick() {
  if (page.tick === null) return 0;
  if (!page.rolling) return page.tick;
  const beats = ((performance.now() - page.tickAt) / 60000) * page.bpm;
  return page.tick + Math.min(beats, 2) * TICKS_PER_BEAT; // no news for two beats: hold
}

function draw() {
  const canvas = $("roll");
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (canvas.width !== width || canvas.height !== height) { canvas.width = width; canvas.height = height; }
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, width, height);
  const now = nowTick();
  const first = now - BEATS_BEHIND * TICKS_PER_BEAT;
  const last = now + BEATS_AHEAD * TICKS_PER_BEAT;
  const x = (tick) => ((tick - first) / (last - first)) * width;
  page.notes = page.notes.filter((note) => note.end === null || note.end >= first);
  let low = 48, high = 84;
  for (const note of page.notes) { low = Math.min(low, note.pitch - 2); high = Math.max(high, note.pitch + 2); }
  const row = height / (high - low + 1);
  const y = (pitch) => (high - pitch) * row;

  const bar = TICKS_PER_BEAT * page.beatsPerBar;
  for (let beat = Math.ceil(first / TICKS_PER_BEAT); beat * TICKS_PER_BEAT <= last; beat++) {
    const tick = beat * TICKS_PER_BEAT;
    context.fillStyle = tick % bar === 0 ? "#4b5563" : "#1f2937";
    context.fillRect(Math.round(x(tick)), 0, 1, height);
  }
  const style = getComputedStyle(document.documentElement);
  for (const note of page.notes) {
    context.fillStyle = style.getPropertyValue(note.source === "phrase" ? "--phrase" : "--answer");
    const end = note.end === null ? Math.max(now, note.start + 1) : note.end;
    context.fillRect(x(note.start), y(note.pitch), Math.max(2, x(end) - x(note.start)), Math.max(2, row - 1));
  }
  context.fillStyle = style.getPropertyValue("--playhead");
  context.fillRect(Math.round(x(now)), 0, 2, height);
  recordDelays();
  requestAnimationFrame(draw);
}

// How long a note took from the daemon to this frame: both clocks are this machine's.
function recordDelays() {
  if (page.fresh.length === 0) return;
  const drawnAt = performance.timeOrigin + performance.now();
  for (const time of page.fresh) {
    page.drawDelays.push(drawnAt - (time + page.wallMinusMonotonic) * 1000);
  }
  page.fresh = [];
  if (page.drawDelays.length > MAX_DELAYS) page.drawDelays.splice(0, page.drawDelays.length - MAX_DELAYS);
  const sorted = [...page.drawDelays].sort((a, b) => a - b);
  $("draw_delay").textContent = `${sorted[Math.floor(sorted.length / 2)].toFixed(1)} ms p50`;
}

wireButtons();
connect();
requestAnimationFrame(draw);
