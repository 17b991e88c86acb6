// The ROI editor: include/exclude polygons drawn over a camera's frame, in the frame's pixels (the
// SVG's viewBox is the frame). Every change is checked by the server (the same validation as the
// pipeline, and the filter's verdict on the frame's boxes); Save writes the file there.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const state = JSON.parse(document.getElementById("roi-state").textContent);
const svg = document.getElementById("overlay");
const image = document.getElementById("frame-image");
const saveButton = document.getElementById("save");
const deleteButton = document.getElementById("delete-polygon");
const message = document.getElementById("message");

const polygons = [
  ...state.include.map((points) => ({ kind: "include", points })),
  ...state.exclude.map((points) => ({ kind: "exclude", points })),
];
let drawing = null; // the polygon being drawn (not closed yet)
let selected = null; // { polygon, point } (point: index or null)
let dragging = null; // { polygon, point }
let checked = { problems: [], boxes: [], roi_checked: false };
let saved = true;
let checkTimer = null; // a check waiting to be sent (edits within 150 ms make one)
let sent = 0; // serial of the last check sent
let answered = 0; // serial of the check `checked` holds

function say(text, kind) {
  message.textContent = text;
  message.className = kind || "";
}

function toImage(event) {
  const point = svg.createSVGPoint();
  point.x = event.clientX;
  point.y = event.clientY;
  const p = point.matrixTransform(svg.getScreenCTM().inverse());
  return [Math.round(p.x * 10) / 10, Math.round(p.y * 10) / 10];
}

function element(name, attributes, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  parent.appendChild(node);
  return node;
}

function pointsText(points) {
  return points.map((p) => p.join(",")).join(" ");
}

function render() {
  svg.replaceChildren();
  const invalid = new Set(checked.problems.map((p) => (p.match(/(include|exclude)\[(\d+)\]/) || []).slice(1).join("")));
  const counters = { include: 0, exclude: 0 };
  for (const polygon of polygons) {
    const index = counters[polygon.kind]++;
    const classes = [polygon.kind];
    if (invalid.has(polygon.kind + index)) classes.push("invalid");
    if (selected && selected.polygon === polygon) classes.push("selected");
    const shape = polygon === drawing
      ? element("polyline", { points: pointsText(polygon.points), class: "drawing" }, svg)
      : element("polygon", { points: pointsText(polygon.points), class: classes.join(" ") }, svg);
    shape.dataset.kind = polygon.kind;
    shape.addEventListener("mousedown", (event) => {
      if (drawing) return;
      event.stopPropagation();
      selected = { polygon, point: null };
      render();
    });
  }
  for (const box of checked.boxes) {
    const verdict = box.reason === null ? "kept" : "dropped";
    const [x1, y1, x2, y2] = box.xyxy;
    element("rect", { x: x1, y: y1, width: x2 - x1, height: y2 - y1, class: `box ${verdict}`, "data-reason": box.reason || "" }, svg);
    element("circle", { cx: box.anchor[0], cy: box.anchor[1], r: 4, class: `anchor ${verdict}` }, svg);
    const label = element("text", { x: x1, y: Math.max(12, y1 - 4), class: `box-label ${verdict}` }, svg);
    label.textContent = `${box.class_name} ${box.score.toFixed(2)}` + (box.reason ? ` [${box.reason}]` : "");
  }
  for (const polygon of polygons) {
    polygon.points.forEach((point, index) => {
      const isSelected = selected && selected.polygon === polygon && selected.point === index;
      const vertex = element("circle", { cx: point[0], cy: point[1], r: 6, class: "vertex" + (isSelected ? " selected" : "") }, svg);
      vertex.addEventListener("mousedown", (event) => {
        event.stopPropagation();
        if (drawing) {
          if (polygon === drawing && index === 0 && polygon.points.length >= 3) {
            close();
          } else {
            drawing.points.push(toImage(event)); // a point on another polygon's corner
            render();
          }
          return;
        }
        selected = { polygon, point: index };
        dragging = { polygon, point: index };
        render();
      });
    });
  }
  deleteButton.disabled = !(selected && !drawing);
  const problems = [...checked.problems];
  if (drawing) problems.unshift(`the ${drawing.kind} polygon being drawn has ${drawing.points.length} point(s): close it with Enter or its first point`);
  document.getElementById("problems").replaceChildren(...problems.map((text) => {
    const item = document.createElement("li");
    item.textContent = text;
    return item;
  }));
  const kept = checked.boxes.filter((b) => b.reason === null).length;
  document.getElementById("summary").textContent =
    `${checked.boxes.length} box(es) in this frame, ${kept} kept` +
    (checked.share === null || checked.share === undefined ? "" : `; the ROI covers ${(checked.share * 100).toFixed(0)}% of the frame`);
  saveButton.disabled = Boolean(drawing) || checked.problems.length > 0 || !checked.roi_checked || pending();
}

function pending() {
  // Save waits for the verdict on exactly the polygons drawn
  return checkTimer !== null || answered !== sent;
}

function drawn() {
  const closed = polygons.filter((p) => p !== drawing);
  return {
    include: closed.filter((p) => p.kind === "include").map((p) => p.points),
    exclude: closed.filter((p) => p.kind === "exclude").map((p) => p.points),
    description: state.description || "",
  };
}

function changed() {
  saved = false;
  scheduleCheck();
}

function scheduleCheck() {
  clearTimeout(checkTimer);
  checkTimer = setTimeout(() => {
    checkTimer = null;
    runCheck();
  }, 150);
  render();
}

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(answer.error || answer.detail || response.statusText);
  return answer;
}

async function runCheck() {
  const serial = ++sent;
  let answer;
  try {
    answer = await post(`/api/roi/${state.camera}/check`, { video: state.video, frame: state.frame, ...drawn() });
  } catch (error) {
    answer = { problems: [String(error.message || error)], boxes: [], roi_checked: false };
  }
  if (serial !== sent) return; // a newer check is on its way: only its verdict counts
  checked = answer;
  answered = serial;
  document.body.dataset.checked = String(serial);
  render();
}

function close() {
  if (!drawing) return;
  if (drawing.points.length < 3) {
    say("a polygon needs at least 3 points", "error");
    return;
  }
  selected = { polygon: drawing, point: null };
  drawing = null;
  changed();
}

function start(kind) {
  if (drawing) close();
  if (drawing) return;
  drawing = { kind, points: [] };
  polygons.push(drawing);
  selected = null;
  say(`drawing an ${kind} polygon: click its points`, "");
  render();
}

svg.addEventListener("mousedown", (event) => {
  if (event.button !== 0) return;
  if (drawing) {
    drawing.points.push(toImage(event));
    render();
    return;
  }
  selected = null;
  render();
});

window.addEventListener("mousemove", (event) => {
  if (!dragging) return;
  dragging.polygon.points[dragging.point] = toImage(event);
  render();
});

window.addEventListener("mouseup", () => {
  if (!dragging) return;
  dragging = null;
  changed();
});

function deleteSelected() {
  if (!selected || drawing) return;
  const { polygon, point } = selected;
  if (point !== null && polygon.points.length > 3) {
    polygon.points.splice(point, 1);
  } else {
    polygons.splice(polygons.indexOf(polygon), 1);
  }
  selected = null;
  changed();
}

async function save() {
  if (saveButton.disabled) return;
  try {
    const answer = await post(`/api/roi/${state.camera}`, { video: state.video, ...drawn() });
    saved = true;
    say(`saved ${answer.saved}`, "ok");
  } catch (error) {
    say(String(error.message || error), "error");
  }
}

function showFrame(video, frame) {
  state.video = video;
  state.frame = Math.max(0, Math.min(state.frame_count - 1, frame));
  document.getElementById("frame").value = state.frame;
  image.src = `/roi/${state.camera}/frame.jpg?video=${encodeURIComponent(state.video)}&frame=${state.frame}`;
  history.replaceState(null, "", `?video=${encodeURIComponent(state.video)}&frame=${state.frame}`);
  scheduleCheck();
}

document.getElementById("new-include").addEventListener("click", () => start("include"));
document.getElementById("new-exclude").addEventListener("click", () => start("exclude"));
deleteButton.addEventListener("click", deleteSelected);
saveButton.addEventListener("click", save);
document.getElementById("frame").addEventListener("change", (event) => showFrame(state.video, Number(event.target.value)));
document.getElementById("video").addEventListener("change", (event) => {
  // another video may have another length: the page knows it after a reload
  location.search = `?video=${encodeURIComponent(event.target.value)}&frame=0`;
});
document.getElementById("previous-second").addEventListener("click", () => showFrame(state.video, state.frame - Math.round(state.fps)));
document.getElementById("next-second").addEventListener("click", () => showFrame(state.video, state.frame + Math.round(state.fps)));

document.addEventListener("keydown", (event) => {
  if (event.target.tagName === "INPUT" || event.target.tagName === "SELECT") return;
  if (event.key === "s" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    save();
  } else if (event.key === "Enter") {
    close();
  } else if (event.key === "Escape" && drawing) {
    polygons.splice(polygons.indexOf(drawing), 1);
    drawing = null;
    render();
  } else if (event.key === "Delete" || event.key === "Backspace") {
    deleteSelected();
  } else if (event.key === "i") {
    start("include");
  } else if (event.key === "e") {
    start("exclude");
  }
});

window.addEventListener("beforeunload", (event) => {
  if (!saved) event.preventDefault();
});

image.addEventListener("error", async () => {
  // the server says why (a frame where the face audit still finds a face is not shown)
  const answer = await fetch(image.src).then((r) => r.json()).catch(() => ({}));
  say(answer.error || answer.detail || "the frame could not be shown", "error");
});
if (state.problem) say(state.problem, "error");
scheduleCheck();
