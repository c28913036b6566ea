// Todo page: talks to the api through this server's /api/* proxy.
"use strict";

const form = document.querySelector("#new-item");
const titleInput = document.querySelector("#new-title");
const list = document.querySelector("#items");
const errorBox = document.querySelector("#error");
const apiStatus = document.querySelector("#api-status");

// Calls the api; resolves to the parsed JSON body (null for 204), rejects with the
// api's {"error": "..."} message otherwise.
async function request(method, path, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers["content-type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      message = (await response.json()).error || message;
    } catch {
      // not JSON: keep the status line
    }
    throw new Error(message);
  }
  return response.status === 204 ? null : response.json();
}

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = !message;
}

function renderItem(item) {
  const li = document.createElement("li");
  li.dataset.id = item.id;
  li.classList.toggle("done", item.done);

  const toggle = document.createElement("input");
  toggle.type = "checkbox";
  toggle.className = "toggle";
  toggle.checked = item.done;
  toggle.addEventListener("change", () =>
    run(() => request("PATCH", `/api/items/${item.id}`, { done: toggle.checked })),
  );

  const title = document.createElement("span");
  title.className = "title";
  title.textContent = item.title;

  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "delete";
  remove.textContent = "Delete";
  remove.setAttribute("aria-label", `Delete ${item.title}`);
  remove.addEventListener("click", () => run(() => request("DELETE", `/api/items/${item.id}`)));

  li.append(toggle, title, remove);
  return li;
}

async function loadItems() {
  const items = await request("GET", "/api/items");
  list.replaceChildren(...items.map(renderItem));
}

// Runs an api change, then reloads the list; shows the error if either fails.
async function run(change) {
  try {
    await change();
    showError("");
  } catch (err) {
    showError(err.message);
  }
  try {
    await loadItems();
  } catch (err) {
    showError(err.message);
  }
}

async function checkApi() {
  try {
    const health = await request("GET", "/api-health");
    apiStatus.textContent = `api ${health.status} (${health.version})`;
    apiStatus.className = "ok";
  } catch {
    apiStatus.textContent = "api unreachable";
    apiStatus.className = "down";
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  run(async () => {
    await request("POST", "/api/items", { title: titleInput.value });
    titleInput.value = "";
  });
});

checkApi();
setInterval(checkApi, 5000);
run(async () => {});
