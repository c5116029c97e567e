// The product view: the product's images (GET products/{id}/images), their marketplace checks as
// pass/fail badges with the measured values, and a delete button that sends the API key.
import { apiUrl } from "./studio.js";

const $ = (id) => document.getElementById(id);
const view = {
  productId: $("product-id"),
  apiKey: $("api-key"),
  load: $("catalog-load"),
  status: $("catalog-status"),
  error: $("catalog-error"),
  list: $("catalog-list"),
  more: $("catalog-more"),
};
const UNITS = { white_background: " %", product_fill: " %", min_long_side: " px", format: "" };
let next = null;
let product = "";

function showError(message) {
  view.error.textContent = message;
  view.error.hidden = !message;
}

async function errorMessage(response) {
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) return body.error.message;
  } catch {
    // not JSON
  }
  return `The request failed (HTTP ${response.status}).`;
}

async function loadPage(first) {
  showError("");
  if (first) {
    product = view.productId.value.trim();
    next = null;
    view.list.replaceChildren();
  }
  if (!product) {
    showError("Enter a product ID first.");
    return;
  }
  const query = new URLSearchParams({ limit: "20" });
  if (next) query.set("next", next);
  const response = await fetch(apiUrl(`products/${encodeURIComponent(product)}/images?${query}`));
  if (!response.ok) {
    showError(await errorMessage(response));
    return;
  }
  const page = await response.json();
  next = page.next;
  view.more.hidden = !next;
  for (const entry of page.images) view.list.append(item(entry));
  const count = view.list.children.length;
  view.status.textContent = count ? `${count} image${count === 1 ? "" : "s"} of ${product}` : `${product} has no images yet.`;
}

function item(entry) {
  const li = document.createElement("li");
  li.className = "catalog-item";
  li.dataset.imageId = entry.image_id;
  const stored = entry.source === "manual" || entry.status === "succeeded";
  if (stored) {
    const img = document.createElement("img");
    img.loading = "lazy";
    img.alt = `Image ${entry.image_id}`;
    img.src = apiUrl(entry.retrieval_url);
    li.append(img);
  }
  const meta = document.createElement("p");
  meta.className = "meta";
  const size = entry.width ? ` · ${entry.width} × ${entry.height} px` : "";
  meta.textContent = `${entry.source}${entry.status ? ` (${entry.status})` : ""}${size} · ${new Date(entry.created_at).toLocaleString()}`;
  li.append(meta);
  const badges = document.createElement("ul");
  badges.className = "badges";
  badges.setAttribute("aria-label", "Marketplace checks");
  li.append(badges);
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "secondary delete";
  remove.textContent = "Delete";
  remove.addEventListener("click", () => deleteImage(entry, li));
  li.append(remove);
  if (stored) loadChecks(entry, badges);
  return li;
}

async function loadChecks(entry, badges) {
  const response = await fetch(apiUrl(`images/${product}/${entry.image_id}/checks?profile=marketplace`));
  if (!response.ok) return;
  const report = await response.json();
  for (const check of report.checks) {
    const badge = document.createElement("li");
    badge.className = `badge ${check.passed ? "pass" : "fail"}`;
    badge.dataset.check = check.name;
    badge.textContent = `${check.name.replaceAll("_", " ")}: ${check.measured}${UNITS[check.name] ?? ""}`;
    badge.title = `required: ${check.required}${UNITS[check.name] ?? ""}`;
    badges.append(badge);
  }
}

async function deleteImage(entry, li) {
  showError("");
  const headers = {};
  const key = view.apiKey.value.trim();
  if (key) headers["X-API-Key"] = key;
  const response = await fetch(apiUrl(`images/${product}/${entry.image_id}`), { method: "DELETE", headers });
  if (response.status === 204 || response.status === 404) {
    li.remove();
    view.status.textContent = `Deleted ${entry.image_id}.`;
    return;
  }
  showError(await errorMessage(response));
}

view.load.addEventListener("click", () => loadPage(true));
view.more.addEventListener("click", () => loadPage(false));
document.documentElement.dataset.catalog = "ready";
