// The try-it page: reads the model card, then sends a text (JSON), an image or a recording (multipart) to /v1/predict.
"use strict";

const $ = (id) => document.getElementById(id);
let modality = null;
let task = "classification";
let lastFile = null; // the file last sent: a document's page is drawn with its fields boxed

// What the page says for each task kind (card.task from /v1/model).
const WORDING = {
  classification: { input: "Text to classify", button: "Classify", hint: "The top classes appear here.", labels: "Labels" },
  regression: { input: "Text to score", button: "Predict", hint: "The predicted value appears here.", labels: "Target" },
  multilabel: { input: "Text to tag", button: "Tag", hint: "The tags above their thresholds appear here.", labels: "Tags" },
  fields: { input: "Document", button: "Extract", hint: "The fields found appear here, boxed on the page.", labels: "Fields" },
};

// The test metrics the card shows for each task kind: [key in card.metrics.test, name, format].
const fixed3 = (x) => x.toFixed(3);
const METRICS = {
  classification: [["accuracy", "accuracy", percent], ["macro_f1", "macro-F1", fixed3],
    ["expected_calibration_error", "calibration error", fixed3]],
  regression: [["mae", "MAE", (x) => x.toPrecision(4)], ["rmse", "RMSE", (x) => x.toPrecision(4)], ["r2", "R²", fixed3]],
  multilabel: [["micro_f1", "micro-F1", fixed3], ["mean_average_precision", "mAP", fixed3], ["macro_f1", "macro-F1", fixed3]],
  fields: [["entity_f1", "entity F1", fixed3], ["entity_precision", "precision", fixed3], ["entity_recall", "recall", fixed3]],
};

function wording() {
  return WORDING[task] || WORDING.classification;
}

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

function showAnswer(prediction) {
  // the answer's shape says what it is: a number (value), the tags above their thresholds (labels), or a
  // label, which the bars show alone
  const answer = $("answer");
  let text = null;
  if (typeof prediction.value === "number") {
    text = "predicted value: " + prediction.value.toPrecision(4);
    answer.dataset.value = String(prediction.value);
  } else if (Array.isArray(prediction.labels)) {
    text = "tags: " + (prediction.labels.join(", ") || "none above its threshold");
  }
  answer.textContent = text || "";
  answer.hidden = text === null;
}

function showFields(fields) {
  // one row per field found: its name, the confidence as a bar, and the value read off the page
  const bars = $("bars");
  bars.replaceChildren();
  for (const [name, found] of Object.entries(fields)) {
    const row = document.createElement("li");
    row.className = "bar field";
    row.dataset.label = name;
    const label = document.createElement("span");
    label.className = "name";
    label.textContent = name;
    const track = document.createElement("span");
    track.className = "track";
    const fill = document.createElement("span");
    fill.className = "fill";
    fill.style.display = "block";
    fill.style.width = percent(found.confidence);
    track.append(fill);
    const confidence = document.createElement("span");
    confidence.className = "value";
    confidence.textContent = percent(found.confidence);
    const value = document.createElement("span");
    value.className = "found";
    value.textContent = found.value;
    row.append(label, track, confidence, value);
    bars.append(row);
  }
  drawBoxes(fields);
}

function drawBoxes(fields) {
  // the uploaded page image with each field's box (page 0; a PDF's pages are not drawn here)
  const canvas = $("page-boxes");
  canvas.hidden = true;
  if (!lastFile || !lastFile.type.startsWith("image/")) return;
  const image = new Image();
  image.addEventListener("load", () => {
    const scale = Math.min(1, 640 / image.naturalWidth);
    canvas.width = Math.round(image.naturalWidth * scale);
    canvas.height = Math.round(image.naturalHeight * scale);
    const context = canvas.getContext("2d");
    context.drawImage(image, 0, 0, canvas.width, canvas.height);
    context.lineWidth = 2;
    context.font = "12px sans-serif";
    context.strokeStyle = context.fillStyle = "#d0342c";
    for (const [name, found] of Object.entries(fields)) {
      if (!Array.isArray(found.box) || found.page) continue;
      const [x0, y0, x1, y1] = found.box.map((v) => v * scale);
      context.strokeRect(x0, y0, x1 - x0, y1 - y0);
      context.fillText(name, x0, Math.max(12, y0 - 3));
    }
    canvas.hidden = false;
    URL.revokeObjectURL(image.src);
  });
  image.src = URL.createObjectURL(lastFile);
}

function showPrediction(prediction, batchMs) {
  if (prediction.fields) {
    $("answer").hidden = true;
    showFields(prediction.fields);
    $("results-hint").hidden = true;
    $("timing").textContent = "answered in " + batchMs.toFixed(1) + " ms";
    return;
  }
  showAnswer(prediction);
  const chosen = new Set(prediction.labels || []);
  const bars = $("bars");
  bars.replaceChildren();
  for (const { label, probability } of prediction.top || []) {
    const row = document.createElement("li");
    row.className = chosen.has(label) ? "bar chosen" : "bar";
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
  for (const [key, name, format] of METRICS[task] || METRICS.classification) {
    if (typeof test[key] === "number") addField(fields, name, format(test[key]));
  }
  if (typeof test.n === "number") addField(fields, "test items", String(test.n));
  if (card.created) addField(fields, "created", card.created.replace("T", " ").replace("+00:00", " UTC"));
  $("labels-title").textContent = wording().labels;
  $("results-hint").textContent = wording().hint;
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
  $("text-label").textContent = wording().input;
  $("text-submit").textContent = wording().button;
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
    lastFile = file;
    const preview = $("preview");
    if (preview.src) URL.revokeObjectURL(preview.src);
    const image = file.type.startsWith("image/"); // a PDF has no preview here: its name is shown instead
    if (image) preview.src = URL.createObjectURL(file);
    preview.hidden = !image;
    $("drop-hint").hidden = image;
    if (!image) $("drop-hint").textContent = file.name;
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

function wavBlob(buffer) {
  // a decoded recording as mono 16-bit PCM WAV (the server resamples it to what the model reads)
  const n = buffer.length;
  const rate = buffer.sampleRate;
  const out = new DataView(new ArrayBuffer(44 + 2 * n));
  const ascii = (offset, text) => {
    for (let i = 0; i < text.length; i++) out.setUint8(offset + i, text.charCodeAt(i));
  };
  ascii(0, "RIFF");
  out.setUint32(4, 36 + 2 * n, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  out.setUint32(16, 16, true); // PCM format chunk
  out.setUint16(20, 1, true);
  out.setUint16(22, 1, true); // mono
  out.setUint32(24, rate, true);
  out.setUint32(28, rate * 2, true);
  out.setUint16(32, 2, true);
  out.setUint16(34, 16, true);
  ascii(36, "data");
  out.setUint32(40, 2 * n, true);
  const channels = [];
  for (let c = 0; c < buffer.numberOfChannels; c++) channels.push(buffer.getChannelData(c));
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (const channel of channels) sum += channel[i];
    const v = Math.max(-1, Math.min(1, sum / channels.length));
    out.setInt16(44 + 2 * i, v < 0 ? v * 0x8000 : v * 0x7fff, true);
  }
  return new Blob([out], { type: "audio/wav" });
}

function setUpAudio() {
  // a recording is uploaded as a file, or recorded from the microphone (MediaRecorder), decoded by the browser
  // and sent as WAV: browsers record WebM/Opus, which the server's decoder does not read
  const form = $("audio-form");
  const input = $("audio-input");
  const player = $("audio-preview");
  const record = $("record");
  form.hidden = false;
  const send = async (blob, name) => {
    if (player.src) URL.revokeObjectURL(player.src);
    player.src = URL.createObjectURL(blob);
    player.hidden = false;
    const data = new FormData();
    data.append("files", blob, name);
    await predict({ body: data });
  };
  input.addEventListener("change", () => {
    if (input.files[0]) send(input.files[0], input.files[0].name);
  });
  if (!navigator.mediaDevices || !window.MediaRecorder) {
    record.disabled = true;
    record.title = "this browser cannot record here (recording needs https or localhost)";
    return;
  }
  let recorder = null;
  record.addEventListener("click", async () => {
    if (recorder && recorder.state === "recording") {
      recorder.stop();
      return;
    }
    clearError();
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (err) {
      showError({ message: "the microphone is not available: " + err.message, fix: "allow the microphone, or upload a recording" });
      return;
    }
    const chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.addEventListener("dataavailable", (event) => {
      if (event.data.size) chunks.push(event.data);
    });
    recorder.addEventListener("stop", async () => {
      for (const track of stream.getTracks()) track.stop();
      record.textContent = "Record";
      document.body.dataset.recording = "off";
      try {
        const recorded = new Blob(chunks, { type: recorder.mimeType });
        const context = new AudioContext();
        const decoded = await context.decodeAudioData(await recorded.arrayBuffer());
        context.close();
        await send(wavBlob(decoded), "recording.wav");
      } catch (err) {
        showError({ message: "cannot read the recording: " + err.message, fix: "record again, or upload a file" });
      }
    });
    recorder.start();
    record.textContent = "Stop";
    document.body.dataset.recording = "on";
  });
}

async function start() {
  try {
    const response = await fetch("/v1/model");
    const card = await response.json();
    if (!response.ok) throw card;
    modality = card.modality;
    task = card.task in WORDING ? card.task : "classification";
    showCard(card);
    if (task === "fields") {
      $("file-input").accept = "image/*,application/pdf";
      $("drop-hint").textContent = "Drop a page image or a PDF here, or click to choose one";
    }
    if (card.input === "file") setUpImage(); // what the model's modality takes (card.input from /v1/model)
    else if (card.input === "audio") setUpAudio();
    else setUpText();
    document.body.dataset.task = task;
    document.body.dataset.ready = modality;
  } catch (err) {
    showError(err && err.message ? err : { message: "cannot load the model card" });
  }
}

start();
