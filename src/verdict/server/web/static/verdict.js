// Verdict dashboard behaviour: progressive enhancement only; every page works without it.
"use strict";

// A form with data-confirm asks before it is sent.
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// Charts: <div class="chart" data-figure="ID"> with <script type="application/json" id="ID">
// holding a plotly figure ({data, layout}). JSON blocks are data, never run, so the page's
// script-src 'self' policy holds.
function drawCharts(root) {
  if (typeof Plotly === "undefined") return;
  root.querySelectorAll("[data-figure]").forEach((element) => {
    const source = document.getElementById(element.getAttribute("data-figure"));
    if (!source) return;
    const figure = JSON.parse(source.textContent);
    Plotly.newPlot(element, figure.data, figure.layout, { responsive: true, displaylogo: false });
  });
}

// Partial updates: an element with data-poll="URL" is replaced by what URL answers every
// data-poll-seconds (default 2) until the answer carries no data-poll itself.
function poll(element) {
  const url = element.getAttribute("data-poll");
  const seconds = Number(element.getAttribute("data-poll-seconds") || "2");
  window.setTimeout(async () => {
    const answer = await fetch(url, { headers: { "Accept": "text/html" }, credentials: "same-origin" });
    if (!answer.ok) return;
    const holder = document.createElement("div");
    holder.innerHTML = await answer.text();
    const next = holder.firstElementChild;
    if (!next) return;
    element.replaceWith(next);
    drawCharts(next.parentElement || document);
    if (next.hasAttribute("data-poll")) poll(next);
    else if (next.hasAttribute("data-reload")) window.location.reload();
  }, seconds * 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  drawCharts(document);
  document.querySelectorAll("[data-poll]").forEach(poll);
});

// -- Flags ------------------------------------------------------------------------------
// A form with data-partial="ID" is sent in the background (header X-Verdict-Partial) and
// the element ID gets the HTML answered: the flag page's "try it" panel. Any other answer
// (a session that expired, a refusal) falls back to sending the form normally.
document.addEventListener("submit", async (event) => {
  const form = event.target;
  const targetId = form.getAttribute && form.getAttribute("data-partial");
  if (!targetId || event.defaultPrevented) return;
  const target = document.getElementById(targetId);
  if (!target) return;
  event.preventDefault();
  let answer;
  try {
    answer = await fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      headers: { "X-Verdict-Partial": "1", "Accept": "text/html" },
      credentials: "same-origin",
      redirect: "manual",
    });
  } catch (error) {
    form.submit();
    return;
  }
  if (answer.status !== 200 && answer.status !== 422) {
    form.submit();
    return;
  }
  target.innerHTML = await answer.text();
  const status = target.querySelector("[role=status]");
  if (status) status.setAttribute("tabindex", "-1");
  const invalid = target.querySelector("[aria-invalid=true]");
  (invalid || status || target).focus();
});

// API keys: a "copy" button (hidden until this script shows it) copies the value of the
// input it names and says so in the status element beside it.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("button[data-copy]").forEach((button) => {
    const name = button.getAttribute("data-copy");
    const source = document.getElementById(name);
    const status = document.querySelector(`[data-copied="${name}"]`);
    if (!source || !navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(source.value);
        if (status) status.textContent = "Copied.";
      } catch (error) {
        source.select();
        if (status) status.textContent = "Select the key and copy it.";
      }
    });
  });
  document.querySelectorAll("input.secret").forEach((input) => {
    input.addEventListener("focus", () => input.select());
  });
});

// --- Experiments: the result charts follow the width of their box (a column of the chart
// grid changes width without the window changing, and plotly's own resize waits 100 ms).
if (typeof ResizeObserver !== "undefined") {
  const chartWidths = new WeakMap();
  const experimentCharts = new ResizeObserver((entries) => {
    if (typeof Plotly === "undefined") return;
    entries.forEach((entry) => {
      const width = Math.floor(entry.contentRect.width);
      const chart = entry.target;
      if (!width || chartWidths.get(chart) === width || !chart.classList.contains("js-plotly-plot")) return;
      chartWidths.set(chart, width);
      Plotly.relayout(chart, { width: width });
    });
  });
  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll(".chart-grid [data-figure]").forEach((chart) => experimentCharts.observe(chart));
  });
}
