// The chat page: model and profile shown, streamed answers over /v1/chat/completions.
"use strict";

const $ = (id) => document.getElementById(id);
const history = [];
let controller = null;

function addMessage(role, text) {
  $("empty").hidden = true;
  const box = document.createElement("div");
  box.className = "msg " + role;
  const who = document.createElement("div");
  who.className = "who";
  who.textContent = role === "user" ? "you" : role === "error" ? "error" : $("model").value || "model";
  const body = document.createElement("div");
  body.className = "text";
  body.textContent = text;
  box.append(who, body);
  $("messages").append(box);
  box.scrollIntoView({ block: "end" });
  return box;
}

function setStatus(ok, text) {
  $("status").className = "status " + (ok ? "ok" : "bad");
  $("status").querySelector("b").textContent = text;
}

async function loadServerInfo() {
  try {
    const health = await (await fetch("/health")).json();
    $("profile").textContent = "profile: " + (health.profile || "none");
    const models = (await (await edgesplit.api("/v1/models")).json()).data;
    const select = $("model");
    const previous = select.value;
    select.replaceChildren(...models.map((m) => new Option(m.id + (m.loaded ? "" : " (not loaded)"), m.id)));
    select.value = previous || health.default_model;
    const loaded = health.models.find((m) => m.id === select.value);
    $("backend").textContent = loaded && loaded.backend ? `${loaded.backend} · ${loaded.threads} thread${loaded.threads === 1 ? "" : "s"}` : "loads on first use";
    setStatus(true, "ready");
    $("token-bar").hidden = true;
  } catch (err) {
    if (err.status === 401) {
      $("token-bar").hidden = false;
      setStatus(false, "token needed");
    } else {
      setStatus(false, "offline");
    }
  }
}

function requestBody() {
  const body = {
    model: $("model").value || undefined,
    messages: [...($("system").value.trim() ? [{ role: "system", content: $("system").value.trim() }] : []), ...history],
    stream: true,
    stream_options: { include_usage: true },
    temperature: Number($("temperature").value),
    max_tokens: Number($("max-tokens").value),
  };
  if ($("seed").value !== "") body.seed = Number($("seed").value);
  return body;
}

function showStats(box, usage, timings, started) {
  const stats = document.createElement("div");
  stats.className = "stats";
  const secs = (performance.now() - started) / 1000;
  const parts = [];
  if (usage) parts.push(`${usage.completion_tokens} tokens`);
  if (timings) parts.push(`${timings.decode_tok_s.toFixed(1)} tok/s`, `first token ${timings.ttft_ms.toFixed(0)} ms`);
  parts.push(`${secs.toFixed(2)} s`);
  stats.textContent = parts.join(" · ");
  box.append(stats);
}

async function send(text) {
  history.push({ role: "user", content: text });
  addMessage("user", text);
  const box = addMessage("assistant", "");
  box.classList.add("streaming");
  const out = box.querySelector(".text");
  controller = new AbortController();
  toggleBusy(true);
  const started = performance.now();
  let answer = "", usage = null, timings = null;
  try {
    const resp = await edgesplit.api("/v1/chat/completions", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(requestBody()), signal: controller.signal,
    });
    await edgesplit.readSSE(resp, (event) => {
      const delta = event.choices && event.choices[0] && event.choices[0].delta;
      if (delta && delta.content) { answer += delta.content; out.textContent = answer; box.scrollIntoView({ block: "end" }); }
      if (event.usage) usage = event.usage;
      if (event.timings) timings = event.timings;
    });
    history.push({ role: "assistant", content: answer });
    showStats(box, usage, timings, started);
  } catch (err) {
    if (err.name === "AbortError") { history.push({ role: "assistant", content: answer }); showStats(box, null, null, started); }
    else { box.remove(); history.pop(); addMessage("error", err.message); if (err.status === 401) $("token-bar").hidden = false; }
  } finally {
    box.classList.remove("streaming");
    box.dataset.done = "1";
    controller = null;
    toggleBusy(false);
    loadServerInfo();
  }
}

function toggleBusy(busy) {
  $("send").disabled = busy;
  $("stop").hidden = !busy;
}

$("composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("prompt").value.trim();
  if (!text || controller) return;
  $("prompt").value = "";
  send(text);
});
$("prompt").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("composer").requestSubmit(); }
});
$("stop").addEventListener("click", () => controller && controller.abort());
$("clear").addEventListener("click", () => {
  history.length = 0;
  $("messages").querySelectorAll(".msg").forEach((m) => m.remove());
  $("empty").hidden = false;
});
$("token-save").addEventListener("click", () => {
  localStorage.setItem(edgesplit.TOKEN_KEY, $("token").value.trim());
  loadServerInfo();
  edgesplit.renderAppsNav($("apps-nav"));
});
$("model").addEventListener("change", loadServerInfo);

loadServerInfo();
edgesplit.renderAppsNav($("apps-nav"));
