// The try-it page: reads the model card, then sends a text (JSON) or an image (multipart) to /v1/predict.
"use strict";

const $ = (id) => document.getElementById(id);
let modality = null;

function showError(body) {
  const box = $("error");
  const parts = [body.message || "request failed"];
  if (body.expected) parts.push("expected: " + body.expected);
  if (body.fix) parts.push("fix: " + body.fix);
  box.textContent = parts.join("\n");
  box.hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

function percent(p) {
  return (100 * p).toFixed(1) + "%";
}

function showPrediction(prediction, batchMs) {
  const bars = $("bars");
  bars.replaceChildren();
  for (const { label, probability } of prediction.top) {
    const row = document.createElement("li");
    row.className = "bar";
    row.dataset.label = label;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = label;
    name.title = label;
    const track = document.createElement("span");
    track.className = "track";
    const fill = document.createElement("span");
    fill.className = "fill";
    fill.style.display = "block";
    fill.style.width = percent(probability);
    track.append(fill);
    const value = document.createElement("span");
    value.className = "value";
    value.textContent = percent(probability);
    row.append(name, track, value);
    bars.append(row);
  }
  // multi-label models also answer the tags above their thresholds; regression models a number
  const answer = prediction.value !== undefined ? "predicted value: " + prediction.value.toPrecision(4)
    : prediction.labels ? "tags: " + (prediction.labels.join(", ") || "(none above its threshold)") : null;
  if (answer !== null) {
    const row = document.createElement("li");
    row.className = "bar answer";
    row.textContent = answer;
    bars.prepend(row);
  }
  $("results-hint").hidden = true;
  $("timing").textContent = "answered in " + batchMs.toFixed(1) + " ms";
}

async function predict(init) {
  clearError();
  const response = await fetch("/v1/predict?top_k=5", { method: "POST", ...init });
  const body = await response.json().catch(() => ({ message: "the server answered " + response.status }));
  if (!response.ok) {
    showError(body);
    return;
  }
  showPrediction(body.predictions[0], body.batch_ms);
}

function addField(list, name, value) {
  if (value === undefined || value === null || value === "") return;
  const dt = document.createElement("dt");
  dt.textContent = name;
  const dd = document.createElement("dd");
  dd.textContent = value;
  list.append(dt, dd);
}

function showCard(card) {
  const backbone = card.backbone ? card.backbone.name : "none";
  $("model-name").textContent = backbone + " · " + card.strategy.name + " · " + card.modality;
  const fields = $("card-fields");
  fields.replaceChildren();
  const test = (card.metrics && card.metrics.test) || {};
  addField(fields, "task", card.task);
  addField(fields, "strategy", card.strategy.name + (card.head.kind ? " (" + card.head.kind + ")" : ""));
  addField(fields, "backbone", backbone);
  if (typeof test.accuracy === "number") addField(fields, "accuracy", percent(test.accuracy));
  if (typeof test.macro_f1 === "number") addField(fields, "macro-F1", test.macro_f1.toFixed(3));
  if (typeof test.expected_calibration_error === "number") addField(fields, "calibration error", test.expected_calibration_error.toFixed(3));
  if (typeof test.n === "number") addField(fields, "test items", String(test.n));
  if (card.created) addField(fields, "created", card.created.replace("T", " ").replace("+00:00", " UTC"));
  const labels = $("labels");
  labels.replaceChildren();
  for (const label of card.labels) {
    const chip = document.createElement("li");
    chip.textContent = label;
    labels.append(chip);
  }
}

function setUpText() {
  const form = $("text-form");
  form.hidden = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("text-input").value;
    if (!text.trim()) {
      showError({ message: "type a text first" });
      return;
    }
    $("text-submit").disabled = true;
    try {
      await predict({ headers: { "Content-Type": "application/json" }, body: JSON.stringify({ inputs: [text] }) });
    } finally {
      $("text-submit").disabled = false;
    }
  });
}

function setUpImage() {
  const form = $("image-form");
  const zone = $("drop-zone");
  const input = $("file-input");
  form.hidden = false;
  const send = async (file) => {
    if (!file) return;
    const preview = $("preview");
    if (preview.src) URL.revokeObjectURL(preview.src);
    preview.src = URL.createObjectURL(file);
    preview.hidden = false;
    $("drop-hint").hidden = true;
    const data = new FormData();
    data.append("files", file, file.name);
    await predict({ body: data });
  };
  input.addEventListener("change", () => send(input.files[0]));
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    send(event.dataTransfer.files[0]);
  });
}

async function start() {
  try {
    const response = await fetch("/v1/model");
    const card = await response.json();
    if (!response.ok) throw card;
    modality = card.modality;
    showCard(card);
    if (modality === "text") setUpText();
    else setUpImage();
    document.body.dataset.ready = modality;
  } catch (err) {
    showError(err && err.message ? err : { message: "cannot load the model card" });
  }
}

start();
