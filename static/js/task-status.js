// Watch a background task until it ends, in a way no cache can break.
//
// Every poll URL carries a fresh random nonce, so no cache (browser, corporate
// proxy, CDN) can answer it with a stored response, and the server's answer
// says "no-store" besides. Polls back off (0.5 s growing to 5 s), a failed
// or hung request is retried rather than fatal, and after data-timeout-seconds
// the element says so and stops: the state ends as SUCCESS, FAILURE or TIMEOUT.
//
// An element with data-done-refresh="<id>" also brings that element of the page
// up to date when the task is over: the page is fetched again (as uncacheable
// as a poll) and the element's content swapped for its fresh copy, so the
// results show without a reload, which would lose what was typed elsewhere.
//
// Messages marked "until-done" ("Import started…") go when the task ends:
// left beside a failure they would say the opposite of what happened.
//
// A form data-role="cancel" in the element (its owner's "Cancel") posts without
// leaving the page, and the element shows the answer: REVOKED, or the state the
// task had reached if it ended first. Without JavaScript it is a plain POST.
(function () {
  "use strict";

  const FIRST_DELAY_MS = 500;
  const MAX_DELAY_MS = 5000;
  const REQUEST_TIMEOUT_MS = 10000;
  const DONE = new Set(["SUCCESS", "FAILURE", "REVOKED", "EXPIRED"]);

  function nonce() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function pollUrl(url) {
    return url + (url.includes("?") ? "&" : "?") + "nonce=" + nonce();
  }

  function show(element, state, message, progress) {
    element.dataset.state = state;
    element.hidden = false;
    const text = element.querySelector("[data-role=message]");
    if (text && message !== undefined) text.textContent = message;
    const bar = element.querySelector("progress");
    if (bar) {
      if (typeof progress === "number") {
        bar.value = progress;
        bar.textContent = progress + "%";
      } else if (DONE.has(state) || state === "TIMEOUT") {
        bar.value = state === "SUCCESS" ? 100 : 0;
      } else {
        bar.removeAttribute("value"); // indeterminate while we don't know
      }
    }
    const done = element.querySelector("[data-role=done]");
    if (done) done.hidden = state !== "SUCCESS";
    const cancel = element.querySelector("form[data-role=cancel]");
    if (cancel) cancel.hidden = DONE.has(state) || state === "TIMEOUT";
  }

  function addCancelForm(element, url, csrfInput) {
    let form = element.querySelector("form[data-role=cancel]");
    if (!form) {
      form = document.createElement("form");
      form.method = "post";
      form.className = "inline";
      form.dataset.role = "cancel";
      if (csrfInput) form.append(csrfInput.cloneNode());
      const button = document.createElement("button");
      button.type = "submit";
      button.className = "button secondary";
      button.dataset.testid = "cancel-task";
      button.textContent = "Cancel";
      form.append(button);
      const network = element.querySelector("[data-role=network]");
      (network || element.lastChild).after(form);
    }
    form.action = url;
    form.hidden = false;
  }

  async function cancelFrom(form) {
    const element = form.closest("[data-testid=task-status]");
    const button = form.querySelector("button");
    if (button) button.disabled = true;
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const status = await response.json();
      if (status.done) {
        element.watchGeneration = (element.watchGeneration || 0) + 1; // over: stop polling
        show(element, status.state, status.message, status.progress);
        dropStartedMessages();
        refreshWhenDone(element);
      }
    } catch (error) {
      form.submit(); // the plain POST still cancels it
    } finally {
      if (button) button.disabled = false;
    }
  }

  async function fetchFresh(url, accept) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    try {
      return await fetch(pollUrl(url), {
        cache: "no-store",
        credentials: "same-origin",
        headers: { Accept: accept },
        signal: controller.signal,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  function fetchStatus(url) {
    return fetchFresh(url, "application/json");
  }

  function dropStartedMessages() {
    document.querySelectorAll(".message.until-done").forEach((message) => {
      const list = message.parentElement;
      message.remove();
      if (list && !list.children.length) list.parentElement.remove(); // the empty role=status box too
    });
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  async function refreshWhenDone(element) {
    const target = element.dataset.doneRefresh && document.getElementById(element.dataset.doneRefresh);
    if (!target) return;
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      try {
        const response = await fetchFresh(location.pathname + location.search, "text/html");
        if (!response.ok) throw new Error("HTTP " + response.status);
        const page = new DOMParser().parseFromString(await response.text(), "text/html");
        const fresh = page.getElementById(target.id);
        if (!fresh) return; // gone from the page since: nothing newer to show
        target.replaceChildren(...Array.from(fresh.childNodes, (node) => document.importNode(node, true)));
        target.querySelectorAll("[data-status-url]").forEach((other) => {
          if (!DONE.has(other.dataset.state)) watch(other);
        });
        return;
      } catch (error) {
        await sleep(FIRST_DELAY_MS * 2 ** attempt);
      }
    }
    const text = element.querySelector("[data-role=message]");
    if (text) text.textContent += " Reload the page to see the results.";
  }

  function watch(element) {
    // A newer watch of the same element (the button pressed again) ends this one.
    const generation = (element.watchGeneration = (element.watchGeneration || 0) + 1);
    const url = element.dataset.statusUrl;
    const timeoutMs = 1000 * Number(element.dataset.timeoutSeconds || 120);
    const started = Date.now();
    let delay = FIRST_DELAY_MS;
    let failures = 0;

    async function poll() {
      if (element.watchGeneration !== generation) return;
      if (Date.now() - started >= timeoutMs) {
        show(element, "TIMEOUT",
          "This is taking longer than it should. It may still finish in the background: reload the page in a few minutes to see.");
        return;
      }
      try {
        const response = await fetchStatus(url);
        if (response.status === 404 || response.status === 403) {
          show(element, "FAILURE", "This task doesn't exist or isn't yours. Please reload the page and log in again.");
          return;
        }
        if (!response.ok) throw new Error("HTTP " + response.status);
        const status = await response.json();
        if (element.watchGeneration !== generation) return;
        failures = 0;
        show(element, status.state, status.message, status.progress);
        if (status.done) {
          dropStartedMessages();
          refreshWhenDone(element);
          return;
        }
      } catch (error) {
        failures += 1;
        // Keep the last state, say we're retrying: a dropped connection is not a failed task.
        const note = element.querySelector("[data-role=network]");
        if (note) note.hidden = false;
      }
      if (!failures) {
        const note = element.querySelector("[data-role=network]");
        if (note) note.hidden = true;
      }
      delay = Math.min(delay * 1.5, MAX_DELAY_MS);
      setTimeout(poll, delay);
    }
    poll();
  }

  // Start a task from a form without leaving the page; the form still works
  // as a plain POST (and redirect to the task's page) without JavaScript.
  function startFrom(form) {
    form.addEventListener("submit", async (event) => {
      const element = document.getElementById(form.dataset.statusTarget);
      if (!element) return;
      event.preventDefault();
      const button = form.querySelector("button");
      if (button) button.disabled = true;
      element.watchGeneration = (element.watchGeneration || 0) + 1; // stop watching an earlier task
      show(element, "PENDING", "Starting…");
      try {
        const response = await fetch(form.action, {
          method: "POST",
          body: new FormData(form),
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        });
        const body = await response.json().catch(() => ({}));
        if (!response.ok) {
          show(element, "FAILURE", body.error || "The refresh could not be started. Please try again.");
          return;
        }
        element.dataset.statusUrl = body.status_url;
        if (body.timeout_seconds) element.dataset.timeoutSeconds = body.timeout_seconds;
        if (body.cancel_url) addCancelForm(element, body.cancel_url, form.querySelector("[name=csrfmiddlewaretoken]"));
        watch(element);
      } catch (error) {
        form.submit(); // the network or the script failed us: fall back to the plain form
      } finally {
        if (button) button.disabled = false;
      }
    });
  }

  document.querySelectorAll("form[data-status-target]").forEach(startFrom);
  // Delegated: a cancel form may come with a fresh copy of part of the page, or be added above.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || form.dataset.role !== "cancel") return;
    if (!form.closest("[data-testid=task-status]")) return;
    event.preventDefault();
    cancelFrom(form);
  });
  let watching = false;
  document.querySelectorAll("[data-status-url]").forEach((element) => {
    if (!DONE.has(element.dataset.state)) {
      watch(element);
      watching = true;
    }
  });
  // Over before the page loaded (a quick failure): nothing is watched, so say it now.
  const ended = Array.from(document.querySelectorAll("[data-testid=task-status]")).some((element) =>
    DONE.has(element.dataset.state));
  if (!watching && ended) dropStartedMessages();
})();
