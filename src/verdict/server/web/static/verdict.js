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
