// idsync portal: live progress over server-sent events (/api/events), and table filters.
"use strict";

function follow(job, onEvent, onOpen) {
  const url = "/api/events" + (job ? "?job=" + encodeURIComponent(job) : "");
  const source = new EventSource(url);
  if (onOpen) { source.addEventListener("open", onOpen); }
  const kinds = ["run.requested", "run.approved", "run.started", "run.planned",
    "run.batch-applied", "run.awaiting-approval", "run.finished", "run.failed",
    "run.cancelled", "run.denied", "run.expired", "run.dead-letter"];
  for (const kind of kinds) {
    source.addEventListener(kind, (message) => onEvent(kind, JSON.parse(message.data)));
  }
  return source;
}

const ENDS = new Set(["run.finished", "run.failed", "run.cancelled", "run.denied", "run.expired"]);

function liveDashboard(section) {
  const list = section.querySelector("ul.runs");
  const empty = section.querySelector(".empty");
  let reload = null;
  follow(null, (kind, event) => {
    let item = list.querySelector(`li[data-run="${CSS.escape(event.run_id)}"]`);
    if (!item && !ENDS.has(kind)) {
      item = document.createElement("li");
      item.dataset.run = event.run_id;
      const link = document.createElement("a");
      link.href = "/runs/" + encodeURIComponent(event.run_id);
      link.textContent = event.job_id + " · " + event.run_id;
      const state = document.createElement("span");
      state.className = "state";
      const bar = document.createElement("progress");
      bar.max = 1; bar.value = 0; bar.setAttribute("aria-label", "batches applied");
      item.append(link, " ", state, " ", bar);
      list.append(item);
      empty.hidden = true;
    }
    if (!item) { return; }
    const state = item.querySelector(".state");
    const bar = item.querySelector("progress");
    state.textContent = kind.replace("run.", "").replace("-", " ");
    if (kind === "run.planned") { bar.max = Math.max(event.batches, 1); bar.value = 0; }
    if (kind === "run.batch-applied") {
      // Batches complete in any order: count them.
      bar.max = Math.max(event.batches, 1);
      bar.value = Math.min(Number(bar.value) + 1, bar.max);
    }
    if (ENDS.has(kind)) {
      bar.value = bar.max;
      // The outcome belongs in "Recent outcomes": the page is drawn again, once quiet.
      clearTimeout(reload);
      reload = setTimeout(() => window.location.reload(), 500);
    }
  }, () => resync(list));
}

// A run may have ended between the page being drawn and the events being followed:
// once following, ask where the runs shown as going stand, and draw the page again if
// one has ended.
async function resync(list) {
  const shown = [...list.querySelectorAll("li[data-run]")].map((item) => item.dataset.run);
  if (shown.length === 0) { return; }
  const answer = await fetch("/api/runs?limit=200", { headers: { accept: "application/json" } });
  if (!answer.ok) { return; }
  const ended = new Set((await answer.json()).filter((run) => run.ended).map((run) => run.run_id));
  if (shown.some((run) => ended.has(run))) { window.location.reload(); }
}

function liveRun(badge) {
  if (badge.dataset.ended === "yes") { return; }
  follow(badge.dataset.job, (kind, event) => {
    if (event.run_id !== badge.dataset.run) { return; }
    badge.textContent = kind.replace("run.", "").replace("-", " ");
    if (ENDS.has(kind) || kind === "run.awaiting-approval") {
      setTimeout(() => window.location.reload(), 800);
    }
  }, async () => {
    const answer = await fetch("/api/runs/" + encodeURIComponent(badge.dataset.run));
    if (answer.ok && (await answer.json()).ended_at) { window.location.reload(); }
  });
}

function filters(input) {
  const table = document.getElementById(input.dataset.filters);
  input.addEventListener("input", () => {
    const wanted = input.value.trim().toLowerCase();
    for (const row of table.tBodies[0].rows) {
      row.hidden = wanted !== "" && !row.textContent.toLowerCase().includes(wanted);
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll('[data-live="runs"]').forEach(liveDashboard);
  document.querySelectorAll('[data-live="run"]').forEach(liveRun);
  document.querySelectorAll("input[data-filters]").forEach(filters);
});
