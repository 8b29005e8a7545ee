// The rating screen's behaviour: ranking by drag and drop or by keys, the current order in
// words, checks before submit, and the time the page was actually visible.
// The rank radios in the form stay the single source of truth; everything here sets them.
(function () {
  "use strict";

  // Time counts only while the tab is visible: a rater who leaves for lunch should not look slow.
  let activeMs = 0;
  let visibleSince = document.visibilityState === "visible" ? performance.now() : null;
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      visibleSince = performance.now();
    } else if (visibleSince !== null) {
      activeMs += performance.now() - visibleSince;
      visibleSince = null;
    }
  });
  function takeActiveMs() {
    const total = activeMs + (visibleSince !== null ? performance.now() - visibleSince : 0);
    activeMs = 0;
    visibleSince = document.visibilityState === "visible" ? performance.now() : null;
    return Math.round(total);
  }

  function cards(form) {
    return Array.from(form.querySelectorAll("li.response"));
  }
  function rankOf(card) {
    const checked = card.querySelector(".rank-choice input:checked");
    return checked ? parseInt(checked.value, 10) : null;
  }
  function setRank(card, rank) {
    const input = card.querySelector('.rank-choice input[value="' + rank + '"]');
    if (input) input.checked = true;
  }
  function harmOf(card) {
    const checked = card.querySelector(".harm-choice input:checked");
    return checked ? checked.value : null;
  }
  function label(form, card) {
    return form.dataset.noun + " " + card.dataset.alias;
  }

  // After a drag or a move the list order is the ranking: every card gets its position.
  function ranksFromPositions(form) {
    cards(form).forEach(function (card, i) { setRank(card, i + 1); });
  }

  // After a rank is typed or clicked, the list follows the ranks (unranked last, ties together).
  function sortByRank(form) {
    const list = form.querySelector("ol.responses");
    const sorted = cards(form)
      .map(function (card, i) { return { card: card, key: rankOf(card) === null ? 1e6 + i : rankOf(card) * 1000 + i }; })
      .sort(function (a, b) { return a.key - b.key; });
    const focused = document.activeElement;
    sorted.forEach(function (entry) { list.appendChild(entry.card); });
    if (focused && list.contains(focused)) focused.focus();
  }

  function problems(form) {
    const found = [];
    const all = cards(form);
    if (form.dataset.ranks === "1") {
      const missing = all.filter(function (c) { return rankOf(c) === null; });
      if (missing.length) {
        found.push("Give every " + form.dataset.noun.toLowerCase() + " a rank: " +
          missing.map(function (c) { return label(form, c); }).join(", ") + " has none.");
      }
      const byRank = {};
      all.forEach(function (c) {
        const r = rankOf(c);
        if (r !== null) (byRank[r] = byRank[r] || []).push(label(form, c));
      });
      Object.keys(byRank).sort().forEach(function (r) {
        if (byRank[r].length > 1) found.push("No ties: " + byRank[r].join(" and ") + " share rank " + r + ".");
      });
    }
    if (form.dataset.harm === "1") {
      const unmarked = all.filter(function (c) { return harmOf(c) === null; });
      if (unmarked.length) {
        found.push("Say whether each " + form.dataset.noun.toLowerCase() + " is harmless or harmful: " +
          unmarked.map(function (c) { return label(form, c); }).join(", ") + " is not marked.");
      }
    }
    return found;
  }

  function render(form) {
    const counts = {};
    cards(form).forEach(function (card) {
      const r = rankOf(card);
      if (r !== null) counts[r] = (counts[r] || 0) + 1;
    });
    cards(form).forEach(function (card) {
      const badge = card.querySelector(".rank-badge");
      const r = rankOf(card);
      if (badge) badge.textContent = r === null ? "–" : String(r);
      card.classList.toggle("ranked", r !== null);
      card.classList.toggle("tied", r !== null && counts[r] > 1);
      card.classList.toggle("judged", harmOf(card) !== null);
    });
    const summary = form.querySelector("#order-summary");
    if (summary) {
      const ranked = cards(form).filter(function (c) { return rankOf(c) !== null; });
      const unranked = cards(form).filter(function (c) { return rankOf(c) === null; });
      let text = ranked.length
        ? "Your order: " + ranked.map(function (c) { return rankOf(c) + ". " + label(form, c); }).join(", ")
        : "Nothing ranked yet.";
      if (ranked.length && unranked.length) {
        text += ". Not ranked yet: " + unranked.map(function (c) { return label(form, c); }).join(", ");
      }
      summary.textContent = text + (text.endsWith(".") ? "" : ".");
    }
    const box = form.querySelector("#form-problems");
    if (box && !box.hidden) showProblems(form, problems(form), false);
  }

  function showProblems(form, found, focus) {
    const box = form.querySelector("#form-problems");
    if (!found.length) {
      box.hidden = true;
      box.textContent = "";
      return;
    }
    box.innerHTML = "";
    const intro = document.createElement("p");
    intro.textContent = "This can't be submitted yet:";
    const list = document.createElement("ul");
    found.forEach(function (p) {
      const li = document.createElement("li");
      li.textContent = p;
      list.appendChild(li);
    });
    box.appendChild(intro);
    box.appendChild(list);
    box.hidden = false;
    // An old "Saved" next to a new problem would read as if this item had been saved.
    const status = document.getElementById("rating-status");
    if (status) status.textContent = "";
    if (focus) box.focus();
  }

  function move(form, card, delta) {
    const all = cards(form);
    const index = all.indexOf(card);
    const target = index + delta;
    if (target < 0 || target >= all.length) return;
    const list = card.parentNode;
    if (delta < 0) list.insertBefore(card, all[target]);
    else list.insertBefore(card, all[target].nextSibling);
    ranksFromPositions(form);
    render(form);
  }

  function setUpRanking(form) {
    const list = form.querySelector("ol.responses");
    let dragged = null;

    list.addEventListener("change", function (event) {
      if (event.target.closest(".rank-choice")) {
        sortByRank(form);
      }
      render(form);
    });

    list.addEventListener("click", function (event) {
      const button = event.target.closest("button.move-up, button.move-down");
      if (!button) return;
      const card = button.closest("li.response");
      move(form, card, button.classList.contains("move-up") ? -1 : 1);
      button.focus();
    });

    list.addEventListener("keydown", function (event) {
      const card = event.target;
      if (!card.matches || !card.matches("li.response")) return;
      const n = cards(form).length;
      if (/^[1-9]$/.test(event.key) && parseInt(event.key, 10) <= n) {
        event.preventDefault();
        setRank(card, parseInt(event.key, 10));
        sortByRank(form);
        render(form);
        card.focus();
      } else if (event.key === "ArrowUp" || event.key === "ArrowDown") {
        event.preventDefault();
        move(form, card, event.key === "ArrowUp" ? -1 : 1);
        card.focus();
      }
    });

    list.addEventListener("dragstart", function (event) {
      const card = event.target.closest && event.target.closest("li.response");
      if (!card) return;
      dragged = card;
      card.classList.add("dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", card.dataset.alias);
    });
    list.addEventListener("dragover", function (event) {
      if (!dragged) return;
      event.preventDefault();
      const over = event.target.closest("li.response");
      if (!over || over === dragged) return;
      const box = over.getBoundingClientRect();
      const after = event.clientY > box.top + box.height / 2;
      list.insertBefore(dragged, after ? over.nextSibling : over);
    });
    list.addEventListener("drop", function (event) {
      if (!dragged) return;
      event.preventDefault();
    });
    list.addEventListener("dragend", function () {
      if (!dragged) return;
      dragged.classList.remove("dragging");
      dragged = null;
      ranksFromPositions(form);
      render(form);
    });
  }

  function setUp(root) {
    const form = root.querySelector ? root.querySelector("#judgement-form") : null;
    if (!form || form.dataset.ready) return;
    form.dataset.ready = "1";
    if (form.dataset.ranks === "1") setUpRanking(form);
    else form.querySelector("ol.responses").addEventListener("change", function () { render(form); });
    sortByRank(form);
    render(form);

    form.addEventListener("htmx:beforeRequest", function (event) {
      if (event.detail.elt !== form) return;
      const found = problems(form);
      if (found.length) {
        event.preventDefault();
        showProblems(form, found, true);
      }
    });
    form.addEventListener("htmx:configRequest", function (event) {
      if (event.detail.elt === form) event.detail.parameters["active_ms"] = String(takeActiveMs());
    });
    // Without htmx (a plain post) the same checks and the same timing still apply.
    form.addEventListener("submit", function (event) {
      if (window.htmx) return;
      const found = problems(form);
      if (found.length) {
        event.preventDefault();
        showProblems(form, found, true);
      } else {
        form.querySelector('input[name="active_ms"]').value = String(takeActiveMs());
      }
    });
  }

  function whenReady(fn) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
    else fn();
  }

  whenReady(function () {
    setUp(document);
    if (!window.htmx) return;
    htmx.onLoad(function () {
      setUp(document);
    });
    // Refusals (a tie, an item now gone, a replay) come back as 4xx with a panel that says why.
    document.body.addEventListener("htmx:beforeSwap", function (event) {
      if ([400, 403, 404, 409, 410, 422].indexOf(event.detail.xhr.status) !== -1) {
        event.detail.shouldSwap = true;
        event.detail.isError = false;
      }
    });
    // Keyboard and screen-reader users land on the new item (or on what went wrong), not at
    // the bottom of the old one.
    document.body.addEventListener("htmx:afterSettle", function () {
      const target = document.getElementById("rating-error") || document.getElementById("item-heading");
      if (target) {
        window.scrollTo(0, 0);
        target.focus({ preventScroll: true });
      }
    });
  });
})();
