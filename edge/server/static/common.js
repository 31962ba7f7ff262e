// Shared by the chat page and app pages: the bearer token, fetch with auth, and SSE reading.
"use strict";

const edgesplit = (() => {
  const TOKEN_KEY = "edgesplit-token";

  function headers(extra = {}) {
    const h = { ...extra };
    const token = localStorage.getItem(TOKEN_KEY);
    if (token) h["Authorization"] = "Bearer " + token;
    return h;
  }

  async function api(path, options = {}) {
    const resp = await fetch(path, { ...options, headers: headers(options.headers || {}) });
    if (!resp.ok) {
      let message = resp.status + " " + resp.statusText;
      try { message = (await resp.json()).error.message || message; } catch (_) { /* not JSON */ }
      const err = new Error(message);
      err.status = resp.status;
      throw err;
    }
    return resp;
  }

  // Read an OpenAI-style SSE stream, calling onEvent(obj) per `data:` event until [DONE].
  async function readSSE(resp, onEvent) {
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        for (const line of block.split("\n")) {
          if (!line.startsWith("data:")) continue;
          const data = line.slice(5).trim();
          if (data === "[DONE]") return;
          const obj = JSON.parse(data);
          if (obj.error) throw new Error(obj.error.message);
          onEvent(obj);
        }
      }
    }
  }

  async function renderAppsNav(container, current) {
    try {
      const apps = (await (await api("/v1/apps")).json()).data;
      container.replaceChildren(...apps.map((a) => {
        const link = document.createElement("a");
        link.className = "nav-item" + (a.name === current ? " active" : "");
        link.href = a.page;
        link.textContent = a.title;
        if (!a.installed) {
          const tag = document.createElement("span");
          tag.className = "tag";
          tag.textContent = "not installed";
          link.append(tag);
        }
        return link;
      }));
    } catch (err) {
      container.textContent = err.status === 401 ? "token needed" : "apps unavailable";
    }
  }

  return { TOKEN_KEY, headers, api, readSSE, renderAppsNav };
})();
