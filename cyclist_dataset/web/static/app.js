// The labelling app's keyboard and buttons. Every action is one POST; the page then reloads, so
// what is shown is always what the server saved.
"use strict";

function say(text, isError) {
  const box = document.getElementById("message");
  box.textContent = text;
  box.className = isError ? "error" : "ok";
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body || {}),
  });
  const data = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) {
    say(data.error || data.detail || "failed", true);
    throw new Error(data.error || data.detail);
  }
  return data;
}

function reloadKeepingScroll() {
  sessionStorage.setItem("scroll", String(window.scrollY));
  sessionStorage.setItem("part", String(selectedPart()));
  window.location.reload();
}

const tracklet = (() => {
  const node = document.getElementById("tracklet-data");
  return node ? JSON.parse(node.textContent) : null;
})();

function parts() {
  return Array.from(document.querySelectorAll("#parts .part"));
}

function selectedPart() {
  const chosen = document.querySelector("#parts .part.selected");
  return chosen ? Number(chosen.dataset.first) : null;
}

function selectPart(first) {
  parts().forEach((p) => p.classList.toggle("selected", Number(p.dataset.first) === first));
  const part = parts().find((p) => p.classList.contains("selected"));
  document.querySelectorAll("#crops .crop").forEach((c) => {
    const frame = Number(c.dataset.frame);
    c.classList.toggle(
      "in-part",
      !!part && frame >= Number(part.dataset.first) && frame <= Number(part.dataset.last),
    );
  });
}

async function act(op, extra) {
  await post("/api/actions", {
    op: op,
    tracklet_id: tracklet.tracklet_id,
    first_frame: selectedPart(),
    ...(extra || {}),
  });
  reloadKeepingScroll();
}

async function same(number) {
  const card = document.querySelector(`.candidate[data-number="${number}"]`);
  if (!card) return say(`no candidate ${number}`, true);
  await act("same", { other: card.dataset.tracklet, other_first_frame: Number(card.dataset.first) });
}

let splitting = false;
function setSplitting(on) {
  splitting = on;
  document.body.classList.toggle("splitting", on);
  const hint = document.getElementById("split-hint");
  if (hint) hint.hidden = !on;
}

function lightbox(src) {
  const box = document.getElementById("lightbox");
  if (!src) {
    box.hidden = true;
    return;
  }
  box.querySelector("img").src = src;
  box.hidden = false;
}

function go(id) {
  const link = document.getElementById(id);
  if (link) window.location.href = link.href;
}

async function undo() {
  const data = await post("/api/undo");
  say(data.undone ? `undone: ${data.undone}` : "nothing to undo");
  reloadKeepingScroll();
}

async function commit() {
  const data = await post("/api/commit");
  say(
    data.created
      ? `label version ${data.version}: ${data.labelled_tracklets} labelled, ${data.identities} identities`
      : `nothing new: label version ${data.version} already holds these labels`,
  );
  setTimeout(() => window.location.reload(), 800);
}

document.addEventListener("DOMContentLoaded", () => {
  const scroll = sessionStorage.getItem("scroll");
  const part = sessionStorage.getItem("part");
  sessionStorage.removeItem("scroll");
  sessionStorage.removeItem("part");
  if (scroll) window.scrollTo(0, Number(scroll));
  document.getElementById("undo").addEventListener("click", () => undo().catch(() => {}));
  document.getElementById("commit").addEventListener("click", () => commit().catch(() => {}));
  if (!tracklet) return;

  if (part && parts().some((p) => p.dataset.first === part)) selectPart(Number(part));
  else selectPart(selectedPart());
  parts().forEach((p) => p.addEventListener("click", () => selectPart(Number(p.dataset.first))));
  document.querySelectorAll(".actions [data-op]").forEach((b) =>
    b.addEventListener("click", () => handleOp(b.dataset.op)),
  );
  document.getElementById("split-mode").addEventListener("click", () => setSplitting(!splitting));
  document.querySelectorAll(".candidate .same").forEach((b) =>
    b.addEventListener("click", () => same(b.dataset.number).catch(() => {})),
  );
  document.querySelectorAll(".unsplit").forEach((b) =>
    b.addEventListener("click", (event) => {
      event.stopPropagation();
      act("unsplit", { at_frame: Number(b.dataset.frame) }).catch(() => {});
    }),
  );
  document.querySelectorAll("#crops .crop").forEach((c) =>
    c.addEventListener("click", () => {
      if (splitting) {
        setSplitting(false);
        act("split", { at_frame: Number(c.dataset.frame) }).catch(() => {});
      } else {
        lightbox(c.querySelector("img").src);
      }
    }),
  );
  document.querySelectorAll(".candidate img").forEach((img) =>
    img.addEventListener("click", () => lightbox(img.src)),
  );
  document.getElementById("lightbox").addEventListener("click", () => lightbox(null));
});

function handleOp(op) {
  if (op === "name") {
    const name = window.prompt("Identity (letters, digits, _ . -):");
    if (name) act("name", { identity: name.trim() }).catch(() => {});
    return;
  }
  act(op).catch(() => {});
}

document.addEventListener("keydown", (event) => {
  if (event.target.closest("input, select, textarea") || event.altKey || event.metaKey) return;
  const key = event.key;
  if (key === "z") {
    event.preventDefault();
    undo().catch(() => {});
    return;
  }
  if (event.ctrlKey) return;
  if (!tracklet) return;
  if (key === "Escape") {
    setSplitting(false);
    lightbox(null);
  } else if (/^[1-9]$/.test(key)) {
    same(Number(key)).catch(() => {});
  } else if (key === "n") handleOp("new");
  else if (key === "e") handleOp("name");
  else if (key === "j") handleOp("junk");
  else if (key === "u") handleOp("unsure");
  else if (key === "c") handleOp("clear");
  else if (key === "a") handleOp("confirm");
  else if (key === "s") setSplitting(!splitting);
  else if (key === "Tab") {
    event.preventDefault();
    const all = parts();
    const i = all.findIndex((p) => p.classList.contains("selected"));
    selectPart(Number(all[(i + 1) % all.length].dataset.first));
  } else if (key === "ArrowRight" || key === ".") go("next");
  else if (key === "ArrowLeft" || key === ",") go("previous");
  else return;
  event.preventDefault();
});
