// Crop studio: draws a crop box on the photo and calls the service's crop endpoints.
// Every URL is relative to this page's folder, so the page works at "/" and under an API Gateway stage ("/v1/").

// Above this size a multipart POST may not get through API Gateway and Lambda (6 MB request payload, and
// binary bodies travel base64-encoded), so the file goes to storage directly when the service offers /uploads.
const MULTIPART_CEILING_BYTES = 4 * 1024 * 1024;
const POLL_FIRST_MS = 300;
const POLL_MAX_MS = 2000;
const POLL_GIVE_UP_MS = 15 * 60 * 1000;

const $ = (id) => document.getElementById(id);
const pageBase = new URL(".", location.href);

/**
 * An API path ("images/manual-crop") resolved against the page's folder, or a URL the service returned.
 * The service's links carry the stage when it knows it ("/v1/images/..."), and are followed as given;
 * a root-relative link without it ("/images/..." from a service that does not know its stage) is taken
 * as relative to the page's folder, which is the API's root.
 */
export function apiUrl(path) {
  const text = String(path);
  if (/^[a-z][a-z0-9+.-]*:/i.test(text)) return new URL(text);
  if (text.startsWith(pageBase.pathname)) return new URL(text, pageBase);
  return new URL(text.replace(/^\/+/, ""), pageBase);
}

/** "You can try again in 59 minutes." from a Retry-After value in seconds. */
export function retryAfterSentence(seconds) {
  const total = Math.max(0, Math.ceil(Number(seconds)));
  if (!Number.isFinite(total) || total === 0) return "You can try again now.";
  const plural = (count, unit) => `${count} ${unit}${count === 1 ? "" : "s"}`;
  if (total < 60) return `You can try again in ${plural(total, "second")}.`;
  const minutes = Math.ceil(total / 60);
  if (minutes < 60) return `You can try again in ${plural(minutes, "minute")}.`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  const restText = rest ? ` and ${plural(rest, "minute")}` : "";
  return `You can try again in ${plural(hours, "hour")}${restText}.`;
}

// What Chromium and Firefox send when they load an <img>: the formats they decode, best first.
const IMAGE_ACCEPT = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";
const clamp = (value, low, high) => Math.min(Math.max(value, low), high);
const formatBytes = (bytes) =>
  bytes < 1024 ? `${bytes} B` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KB` : `${(bytes / 1048576).toFixed(1)} MB`;

class ApiError extends Error {
  constructor(status, error) {
    super(error.message);
    this.status = status;
    this.code = error.code;
    this.field = error.field ?? null;
  }
}

/** The service's {"error": {...}} body, or one made up for a gateway's answer in another shape. */
async function apiError(response, fallbackField = null) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON: a gateway or storage answer.
  }
  if (body && body.error && typeof body.error.message === "string") {
    // A missing or unknown API key names no form field; the page's own key field is where it belongs.
    const error = response.status === 401 && !body.error.field ? { ...body.error, field: "api_key" } : body.error;
    const retryAfter = response.headers.get("Retry-After");
    if (response.status === 503 && retryAfter) error.message = `${error.message} ${retryAfterSentence(retryAfter)}`;
    return new ApiError(response.status, error);
  }
  const detail = (body && (body.message || body.Message)) || response.statusText || "request failed";
  const field = response.status === 413 ? "source_image" : fallbackField;
  return new ApiError(response.status, { code: "http_error", message: `The request failed (HTTP ${response.status}: ${detail}).`, field });
}

const ui = {
  form: $("studio"),
  productId: $("product-id"),
  apiKey: $("api-key"),
  file: $("source-image"),
  dropZone: $("drop-zone"),
  sourceInfo: $("source-info"),
  stage: $("stage"),
  preview: $("preview"),
  box: $("box"),
  fields: { x: $("box-x"), y: $("box-y"), width: $("box-width"), height: $("box-height") },
  boxSummary: $("box-summary"),
  manual: $("manual-crop"),
  smart: $("smart-crop"),
  quota: $("quota"),
  formError: $("form-error"),
  job: $("job"),
  jobId: $("job-id"),
  jobSteps: $("job-steps"),
  jobStatus: $("job-status"),
  results: $("results"),
  originalImage: $("original-image"),
  originalCaption: $("original-caption"),
  resultImage: $("result-image"),
  resultSize: $("result-size"),
  resultLink: $("result-link"),
  renditions: $("renditions"),
};

const state = {
  file: null,
  objectUrl: null,
  image: null, // {width, height} as displayed (EXIF orientation applied), once the preview loaded
  box: null, // {x, y, width, height} in image pixels
  gesture: null,
  busy: false,
};

// ---- the crop box ----

/** The box moved and shrunk as little as needed to lie inside the image, in whole pixels, at least 1x1. */
function fit(box) {
  const limitW = state.image ? state.image.width : Infinity;
  const limitH = state.image ? state.image.height : Infinity;
  const width = clamp(Math.round(box.width) || 1, 1, limitW);
  const height = clamp(Math.round(box.height) || 1, 1, limitH);
  const x = clamp(Math.round(box.x) || 0, 0, limitW - width);
  const y = clamp(Math.round(box.y) || 0, 0, limitH - height);
  return { x, y, width, height };
}

function setBox(box, { except = null } = {}) {
  state.box = fit(box);
  for (const [name, input] of Object.entries(ui.fields)) {
    if (input !== except) input.value = String(state.box[name]);
  }
  const { x, y, width, height } = state.box;
  ui.boxSummary.textContent = `${width} × ${height} px at (${x}, ${y})`;
  clearError("crop_box");
  renderBox();
}

function scale() {
  return state.image && ui.preview.clientWidth ? ui.preview.clientWidth / state.image.width : 1;
}

function renderBox() {
  ui.box.hidden = !state.box || !state.image;
  if (ui.box.hidden) return;
  const s = scale();
  const style = ui.box.style;
  style.left = `${state.box.x * s}px`;
  style.top = `${state.box.y * s}px`;
  style.width = `${state.box.width * s}px`;
  style.height = `${state.box.height * s}px`;
}

/** The pointer's position in image pixels (not clamped: a drag may run past the image's edge). */
function pointerInImage(event) {
  const rect = ui.preview.getBoundingClientRect();
  const s = scale();
  return { x: (event.clientX - rect.left) / s, y: (event.clientY - rect.top) / s };
}

function startGesture(event) {
  if (!state.image || event.button !== 0) return;
  event.preventDefault();
  const point = pointerInImage(event);
  const handle = event.target.closest("[data-handle]");
  let mode = "draw";
  if (handle) mode = "resize";
  else if (ui.box.contains(event.target)) mode = "move";
  state.gesture = { mode, handle: handle ? handle.dataset.handle : "", start: point, box: state.box && { ...state.box } };
  ui.stage.setPointerCapture(event.pointerId);
}

function continueGesture(event) {
  const gesture = state.gesture;
  if (!gesture) return;
  const { width: W, height: H } = state.image;
  const p = pointerInImage(event);
  const b = gesture.box;
  if (gesture.mode === "move") {
    setBox({ ...b, x: b.x + p.x - gesture.start.x, y: b.y + p.y - gesture.start.y });
  } else if (gesture.mode === "draw") {
    const ax = clamp(gesture.start.x, 0, W);
    const ay = clamp(gesture.start.y, 0, H);
    const px = clamp(p.x, 0, W);
    const py = clamp(p.y, 0, H);
    const left = Math.round(Math.min(ax, px));
    const top = Math.round(Math.min(ay, py));
    const right = Math.round(Math.max(ax, px));
    const bottom = Math.round(Math.max(ay, py));
    if (right - left >= 1 && bottom - top >= 1) setBox({ x: left, y: top, width: right - left, height: bottom - top });
  } else {
    let left = b.x;
    let top = b.y;
    let right = b.x + b.width;
    let bottom = b.y + b.height;
    if (gesture.handle.includes("w")) left = clamp(Math.round(p.x), 0, right - 1);
    if (gesture.handle.includes("e")) right = clamp(Math.round(p.x), left + 1, W);
    if (gesture.handle.includes("n")) top = clamp(Math.round(p.y), 0, bottom - 1);
    if (gesture.handle.includes("s")) bottom = clamp(Math.round(p.y), top + 1, H);
    setBox({ x: left, y: top, width: right - left, height: bottom - top });
  }
}

function endGesture(event) {
  if (!state.gesture) return;
  state.gesture = null;
  if (ui.stage.hasPointerCapture(event.pointerId)) ui.stage.releasePointerCapture(event.pointerId);
  if (state.box) ui.box.focus({ preventScroll: true }); // so the arrow keys go on from where the mouse left it
}

function nudge(event) {
  const steps = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
  const step = steps[event.key];
  if (!step || !state.box) return;
  event.preventDefault();
  const size = event.shiftKey ? 10 : 1;
  const [dx, dy] = step.map((value) => value * size);
  const b = state.box;
  if (event.altKey) setBox({ ...b, width: Math.max(1, b.width + dx), height: Math.max(1, b.height + dy) });
  else setBox({ ...b, x: b.x + dx, y: b.y + dy });
}

function fieldsChanged(event) {
  const values = {};
  for (const [name, input] of Object.entries(ui.fields)) {
    const number = Number.parseInt(input.value, 10);
    if (Number.isNaN(number)) return;
    values[name] = number;
  }
  // While typing, leave the field being edited alone; on change (blur, Enter) show the fitted value.
  setBox(values, { except: event.type === "input" ? event.target : null });
}

// ---- the photo ----

function chooseFile(file) {
  if (!file) return;
  clearErrors();
  if (state.objectUrl) URL.revokeObjectURL(state.objectUrl);
  state.file = file;
  state.image = null;
  state.objectUrl = URL.createObjectURL(file);
  ui.sourceInfo.textContent = `${file.name}, ${formatBytes(file.size)}: loading the preview…`;
  ui.preview.src = state.objectUrl;
}

function previewLoaded() {
  // With image-orientation: from-image (every current browser's default) these are the oriented dimensions.
  state.image = { width: ui.preview.naturalWidth, height: ui.preview.naturalHeight };
  ui.stage.hidden = false;
  ui.sourceInfo.textContent = `${state.file.name}: ${state.image.width} × ${state.image.height} px, ${formatBytes(state.file.size)}`;
  // No box until one is drawn or typed: a drag anywhere on a fresh photo draws, none moves a box nobody chose.
  state.box = null;
  for (const input of Object.values(ui.fields)) input.value = "";
  ui.boxSummary.textContent = "";
  renderBox();
}

function previewFailed() {
  if (!state.file) return;
  state.image = null;
  ui.stage.hidden = true;
  ui.sourceInfo.textContent =
    `${state.file.name}, ${formatBytes(state.file.size)}: this browser cannot show it. ` +
    "Type the box below; the service will say whether it can read the file.";
}

// ---- errors ----

function errorElementFor(field) {
  const name = field || "";
  for (const candidate of [name, name.split(".")[0]]) {
    if (!candidate) continue;
    for (const element of document.querySelectorAll("[data-error-for]")) {
      if (element.dataset.errorFor.split(" ").includes(candidate)) return element;
    }
  }
  return ui.formError;
}

const INPUT_FOR_FIELD = {
  "crop_box.x": "box-x",
  "crop_box.y": "box-y",
  "crop_box.width": "box-width",
  "crop_box.height": "box-height",
};

function showError(error) {
  const element = errorElementFor(error.field);
  element.textContent = error.message;
  element.hidden = false;
  const inputId = INPUT_FOR_FIELD[error.field] || element.dataset.input;
  if (inputId) $(inputId).setAttribute("aria-invalid", "true");
}

function clearError(field) {
  const element = errorElementFor(field);
  if (element === ui.formError) return;
  element.hidden = true;
  element.textContent = "";
  for (const input of element.closest(".field, fieldset").querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

function clearErrors() {
  for (const element of document.querySelectorAll("[data-error-for]")) {
    element.hidden = true;
    element.textContent = "";
  }
  for (const input of document.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

// ---- calling the service ----

/** Sends the photo as it must go: a direct upload when it is large and the service offers it, else in the form. */
async function addSource(form) {
  if (!state.file) return; // the service answers "source_image is required." next to the file field
  if (state.file.size > MULTIPART_CEILING_BYTES) {
    const uploadId = await directUpload(state.file);
    if (uploadId) {
      form.append("source_upload_id", uploadId);
      return;
    }
  }
  form.append("source_image", state.file, state.file.name);
}

/** POST /uploads, then the file to the URL it returns; null when the service has no direct uploads. */
async function directUpload(file) {
  const ticket = await post(apiUrl("uploads"));
  if (ticket.status === 404 || ticket.status === 405) return null;
  if (!ticket.ok) throw await apiError(ticket, "source_image");
  const { upload_id: uploadId, url, fields } = await ticket.json();
  const body = new FormData();
  for (const [name, value] of Object.entries(fields || {})) body.append(name, value);
  body.append("file", file, file.name);
  ui.sourceInfo.textContent = `${file.name}: uploading ${formatBytes(file.size)} directly to storage…`;
  const upload = await post(apiUrl(url), body);
  if (!upload.ok) throw await apiError(upload, "source_image");
  return uploadId;
}

/** A POST to the service, with the API key when one is given; never to another origin (S3 needs no key). */
function post(url, body) {
  const headers = {};
  const key = ui.apiKey.value.trim();
  if (key && url.origin === location.origin) headers["X-API-Key"] = key;
  return fetch(url, { method: "POST", body, headers });
}

function productInfo() {
  return JSON.stringify({ product_id: ui.productId.value.trim() });
}

function boxJson() {
  const values = {};
  for (const [name, input] of Object.entries(ui.fields)) {
    const number = Number(input.value);
    values[name] = input.value.trim() === "" || !Number.isInteger(number) ? input.value : number;
  }
  return JSON.stringify(values);
}

async function manualCrop() {
  const form = new FormData();
  form.append("product_info", productInfo());
  form.append("crop_box", boxJson());
  await addSource(form);
  const response = await post(apiUrl("images/manual-crop"), form);
  showQuota(response, "manual"); // when the service limits manual crops too
  if (!response.ok) throw await apiError(response);
  const created = await response.json();
  await showResult(created.retrieval_url, created.renditions);
}

async function smartCrop() {
  const form = new FormData();
  form.append("product_info", productInfo());
  await addSource(form);
  const response = await post(apiUrl("images/smart-crop"), form);
  showQuota(response, "smart");
  if (!response.ok) throw await apiError(response);
  const accepted = await response.json();
  const job = await followJob(accepted);
  if (job.status === "succeeded") await showResult(job.retrieval_url, job.renditions);
}

/** The quota a crop endpoint reports (RateLimit-* headers), or on a 429 when it comes back, as sentences. */
function showQuota(response, kind) {
  const remaining = response.headers.get("RateLimit-Remaining");
  const limit = response.headers.get("RateLimit-Limit");
  if (response.status === 429) {
    ui.quota.textContent = `No ${kind} crops left for now. ${retryAfterSentence(response.headers.get("Retry-After"))}`;
  } else if (remaining !== null) {
    const label = kind.charAt(0).toUpperCase() + kind.slice(1);
    ui.quota.textContent = `${label} crops left: ${remaining}${limit ? ` of ${limit}` : ""}.`;
  }
}

function showJob(status, imageId, detail = "") {
  ui.job.hidden = false;
  ui.jobId.textContent = imageId;
  const order = ["pending", "processing", "done"];
  const current = status === "succeeded" || status === "failed" ? "done" : status;
  for (const item of ui.jobSteps.children) {
    const step = item.dataset.step;
    const index = order.indexOf(step);
    item.classList.toggle("done", index < order.indexOf(current) || (step === "done" && status === "succeeded"));
    item.classList.toggle("failed", step === "done" && status === "failed");
    if (step === current && current !== "done") item.setAttribute("aria-current", "step");
    else item.removeAttribute("aria-current");
    if (step === "done") item.textContent = current === "done" ? status : "succeeded or failed";
  }
  ui.jobStatus.textContent = `Status: ${status}${detail ? `. ${detail}` : ""}`;
}

async function followJob(accepted) {
  showJob("pending", accepted.image_id);
  const started = performance.now();
  let wait = POLL_FIRST_MS;
  for (;;) {
    const response = await fetch(apiUrl(accepted.status_url), { cache: "no-store" });
    if (!response.ok) throw await apiError(response);
    const job = await response.json();
    showJob(job.status, job.image_id, job.error || "");
    if (job.status === "succeeded" || job.status === "failed") return job;
    if (performance.now() - started > POLL_GIVE_UP_MS) {
      throw new ApiError(0, { code: "timeout", message: "The smart crop is taking too long; check its status later." });
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
    wait = Math.min(wait * 1.5, POLL_MAX_MS);
  }
}

async function showResult(retrievalUrl, renditions = {}) {
  const url = apiUrl(retrievalUrl);
  ui.results.hidden = false;
  ui.originalImage.src = state.objectUrl || "";
  ui.originalCaption.textContent = state.image
    ? `Original: ${state.image.width} × ${state.image.height} px, ${formatBytes(state.file.size)}`
    : "Original";
  ui.resultLink.href = url.href;
  ui.resultLink.textContent = retrievalUrl;
  ui.resultSize.textContent = "Loading the result…";
  ui.resultImage.src = url.href;
  await ui.resultImage.decode().catch(() => undefined);
  const { naturalWidth: w, naturalHeight: h } = ui.resultImage;
  ui.resultImage.style.width = state.image && w ? `${Math.min(100, (100 * w) / state.image.width)}%` : "";
  let bytes = "";
  try {
    const head = await fetch(url, { method: "HEAD" });
    const length = head.ok ? head.headers.get("Content-Length") : null;
    if (length) bytes = `, ${formatBytes(Number(length))}`;
  } catch {
    // Served from another origin (a presigned storage URL): the size in bytes is not ours to read.
  }
  ui.resultSize.textContent = w ? `Result: ${w} × ${h} px${bytes}` : "The result could not be loaded.";
  // Not awaited: the page is ready for the next crop while the renditions load.
  showRenditions(renditions);
  ui.results.scrollIntoView({ block: "nearest" });
}

/** Each preset's rendition side by side, with its size, format and a download link. */
function showRenditions(renditions) {
  ui.renditions.replaceChildren();
  for (const [name, link] of Object.entries(renditions)) showRendition(name, link);
}

async function showRendition(name, link) {
  const url = apiUrl(link);
  const item = document.createElement("li");
  item.dataset.preset = name;
  const image = document.createElement("img");
  image.alt = `The ${name} rendition`;
  const caption = document.createElement("p");
  caption.className = "rendition-size";
  caption.textContent = `${name}: loading…`;
  const download = document.createElement("a");
  download.className = "rendition-download";
  download.textContent = `Download ${name}`;
  item.append(image, caption, download);
  ui.renditions.append(item);
  try {
    // Fetched once: the same bytes give the size, the picture and the download. fetch() sends Accept: */*,
    // so it says what an <img> of this browser accepts, and gets the format a storefront page would.
    const response = await fetch(url, { headers: { Accept: IMAGE_ACCEPT } });
    if (!response.ok) throw await apiError(response);
    const blob = await response.blob();
    const objectUrl = URL.createObjectURL(blob);
    const extension = { "image/avif": "avif", "image/webp": "webp", "image/jpeg": "jpg" }[blob.type] || "img";
    image.src = objectUrl;
    await image.decode().catch(() => undefined);
    download.href = objectUrl;
    download.download = `${name}.${extension}`;
    const format = extension.toUpperCase();
    caption.textContent = `${name}: ${image.naturalWidth} × ${image.naturalHeight} px, ${format}, ${blob.size.toLocaleString("en")} bytes`;
  } catch (error) {
    // Served from another origin that does not share its bytes (a presigned storage URL): link it instead.
    image.src = url.href;
    download.href = url.href;
    caption.textContent = `${name}: ${error instanceof ApiError ? error.message : "served from storage"}`;
  }
}

async function run(action) {
  if (state.busy) return;
  state.busy = true;
  ui.manual.disabled = ui.smart.disabled = true;
  ui.form.setAttribute("aria-busy", "true");
  clearErrors();
  try {
    await action();
  } catch (error) {
    if (error instanceof ApiError) showError(error);
    else showError({ field: null, message: `The service could not be reached (${error.message}).` });
  } finally {
    state.busy = false;
    ui.manual.disabled = ui.smart.disabled = false;
    ui.form.removeAttribute("aria-busy");
  }
}

// ---- wiring ----

ui.file.addEventListener("change", () => chooseFile(ui.file.files[0]));
ui.preview.addEventListener("load", previewLoaded);
ui.preview.addEventListener("error", previewFailed);
new ResizeObserver(renderBox).observe(ui.preview);

for (const zone of [ui.dropZone, ui.stage]) {
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    const files = event.dataTransfer.files;
    if (!files.length) return;
    ui.file.files = files;
    chooseFile(files[0]);
  });
}

ui.stage.addEventListener("pointerdown", startGesture);
ui.stage.addEventListener("pointermove", continueGesture);
ui.stage.addEventListener("pointerup", endGesture);
ui.stage.addEventListener("pointercancel", endGesture);
ui.box.addEventListener("keydown", nudge);
for (const input of Object.values(ui.fields)) {
  input.addEventListener("input", fieldsChanged);
  input.addEventListener("change", fieldsChanged);
}
ui.productId.addEventListener("input", () => clearError("product_info"));
ui.apiKey.value = sessionStorage.getItem("studio.apiKey") || "";
ui.apiKey.addEventListener("input", () => {
  sessionStorage.setItem("studio.apiKey", ui.apiKey.value);
  clearError("api_key");
});
ui.form.addEventListener("submit", (event) => event.preventDefault());
ui.manual.addEventListener("click", () => run(manualCrop));
ui.smart.addEventListener("click", () => run(smartCrop));
document.documentElement.dataset.studio = "ready";
