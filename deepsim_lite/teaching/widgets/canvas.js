// The PrimitiveEditor's drawing surface (anywidget front end of deepsim_lite/teaching/widgets/canvas.py).
//
// Three stacked layers fill a box with the primitive's aspect ratio, as wide as its cell allows:
//   base    - the primitive's colours at primitive resolution (a PNG from Python), drawn pixelated;
//   patch   - a moving selection, half transparent (a PNG from Python, or nothing);
//   overlay - at screen resolution: Python's outlines (`shapes`), the stroke being drawn and the
//             brush cursor, both drawn here, at once, without waiting for the kernel.
// Pointer events go to Python in primitive pixels (y, x): "down", then the moves batched once per
// animation frame, then "up", each drag with an id; Python answers "committed" with that id after it
// applied the edit, and the drag's preview is cleared once the base picture sent before that answer
// is drawn. One pointer at a time: a second finger or pen is ignored until the first is lifted.

function decodePng(view) {
  // A DataView/ArrayBuffer of PNG bytes -> an ImageBitmap (null for no bytes).
  const bytes = view && view.byteLength ? view : null;
  if (!bytes) return Promise.resolve(null);
  return createImageBitmap(new Blob([bytes], { type: "image/png" }));
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "deepsim-canvas-box";
  root.tabIndex = 0;
  root.style.position = "relative";
  root.style.width = "100%";
  root.style.outline = "none";
  root.style.touchAction = "none";
  root.style.cursor = "crosshair";
  const layer = () => {
    const c = document.createElement("canvas");
    Object.assign(c.style, { position: "absolute", left: "0", top: "0", width: "100%", height: "100%" });
    root.appendChild(c);
    return c;
  };
  const base = layer();
  const patch = layer();
  const overlay = layer();
  base.style.imageRendering = patch.style.imageRendering = "pixelated";
  const baseCtx = base.getContext("2d", { willReadFrequently: true }); // read back on hover (label names)
  el.appendChild(root);

  const prim = () => [model.get("height"), model.get("width")];
  let stroke = null; // the drag under way: {id, pen, points: [[y, x], ...] in primitive pixels}
  const waiting = new Map(); // finished drags by id, kept (previews drawn) until Python's "committed"
  let active = null; // the pointerId of the drag under way
  let nextId = Math.floor(Math.random() * 1e9); // ids unique across views of one widget
  let cursor = null; // [y, x] under the pointer, or null
  let pending = []; // moves not yet sent to Python
  let frame = 0;
  const drawn = { base: 0, patch: 0 }; // newest picture requested per layer (decodes can finish out of order)
  let baseDrawn = Promise.resolve(); // the newest base picture, once drawn (or failed)

  function sizeLayers() {
    const [h, w] = prim();
    root.style.aspectRatio = `${w} / ${h}`;
    for (const c of [base, patch]) {
      if (c.width !== w || c.height !== h) [c.width, c.height] = [w, h]; // resizing clears: only when it changes
    }
    const r = root.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const ow = Math.max(1, Math.round(r.width * dpr)), oh = Math.max(1, Math.round(r.height * dpr));
    if (overlay.width !== ow || overlay.height !== oh) [overlay.width, overlay.height] = [ow, oh];
  }

  async function drawImage(canvas, key) {
    const ticket = ++drawn[key];
    let bitmap = null;
    try {
      bitmap = await decodePng(model.get(key));
    } catch (err) {
      console.error(`deepsim-lite canvas: cannot decode the ${key} picture`, err);
      return;
    }
    if (ticket !== drawn[key]) return bitmap && bitmap.close(); // a newer picture was asked for meanwhile
    const ctx = key === "base" ? baseCtx : canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (bitmap) {
      ctx.drawImage(bitmap, 0, 0);
      bitmap.close();
    }
  }

  function path(ctx, points, closed) {
    ctx.beginPath();
    points.forEach(([y, x], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    if (closed) ctx.closePath();
  }

  function drawOverlay() {
    const [h, w] = prim();
    const ctx = overlay.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, overlay.width, overlay.height);
    const sx = overlay.width / w, sy = overlay.height / h;
    ctx.setTransform(sx, 0, 0, sy, 0, 0);
    const px = 1 / sx; // one screen pixel, in primitive pixels
    for (const shape of model.get("shapes")) {
      ctx.setLineDash([6 * px, 4 * px]);
      ctx.strokeStyle = shape.colour || "#ff00ff";
      ctx.lineWidth = 2 * px;
      path(ctx, shape.points, shape.closed);
      ctx.stroke();
    }
    ctx.setLineDash([]);
    for (const s of [...waiting.values(), stroke]) {
      if (!s || !s.pen.width) continue;
      ctx.strokeStyle = ctx.fillStyle = s.pen.colour;
      ctx.lineWidth = s.pen.width;
      ctx.lineCap = ctx.lineJoin = "round";
      if (s.points.length === 1) {
        ctx.beginPath();
        ctx.arc(s.points[0][1], s.points[0][0], s.pen.width / 2, 0, 2 * Math.PI);
        ctx.fill();
      } else {
        path(ctx, s.points, false);
        ctx.stroke();
      }
    }
    const pen = model.get("pen");
    if (cursor && !stroke && pen.cursor != null) {
      ctx.strokeStyle = "#ffffff";
      ctx.lineWidth = px;
      ctx.beginPath();
      ctx.arc(cursor[1], cursor[0], pen.cursor, 0, 2 * Math.PI);
      ctx.stroke();
    }
  }

  function where(event) {
    const r = root.getBoundingClientRect();
    const [h, w] = prim();
    return [((event.clientY - r.top) / r.height) * h, ((event.clientX - r.left) / r.width) * w];
  }

  function labelName(y, x) {
    // The name of the label under the pointer, read from the base layer's colour.
    const [h, w] = prim();
    if (y < 0 || x < 0 || y >= h || x >= w) return "";
    const d = baseCtx.getImageData(Math.floor(x), Math.floor(y), 1, 1).data;
    const key = `${d[0]},${d[1]},${d[2]}`;
    return model.get("colour_names")[key] || "";
  }

  function flush() {
    frame = 0;
    if (pending.length) model.send({ event: "moves", points: pending });
    pending = [];
  }

  root.addEventListener("pointerdown", (event) => {
    if (event.button !== 0 || active !== null) return; // one drag at a time
    root.focus();
    active = event.pointerId;
    root.setPointerCapture(event.pointerId);
    const p = where(event);
    stroke = { id: nextId++, pen: model.get("pen"), points: [p] };
    model.send({ event: "down", id: stroke.id, y: p[0], x: p[1] });
    drawOverlay();
  });
  root.addEventListener("pointermove", (event) => {
    const p = where(event);
    cursor = p;
    root.title = labelName(p[0], p[1]);
    if (event.pointerId !== active || !stroke) {
      drawOverlay();
      return;
    }
    stroke.points.push(p);
    pending.push(p);
    if (!frame) frame = requestAnimationFrame(flush);
    drawOverlay();
  });
  const finish = (event) => {
    if (event.pointerId !== active || !stroke) return;
    active = null;
    if (root.hasPointerCapture(event.pointerId)) root.releasePointerCapture(event.pointerId);
    if (frame) cancelAnimationFrame(frame);
    flush();
    const p = event.type === "pointerup" ? where(event) : stroke.points[stroke.points.length - 1];
    stroke.points.push(p);
    waiting.set(stroke.id, stroke);
    model.send({ event: "up", id: stroke.id, y: p[0], x: p[1] });
    stroke = null;
    drawOverlay();
  };
  root.addEventListener("pointerup", finish);
  root.addEventListener("pointercancel", finish);
  root.addEventListener("lostpointercapture", finish);
  root.addEventListener("pointerleave", () => {
    cursor = null;
    drawOverlay();
  });
  root.addEventListener("keydown", (event) => {
    if (["Shift", "Control", "Alt", "Meta", "Tab"].includes(event.key)) return; // Tab moves the focus on
    const mod = event.ctrlKey || event.metaKey;
    if (mod && !["z", "Z", "y", "Y"].includes(event.key)) return; // the browser's and JupyterLab's Ctrl+S, C, V...
    event.preventDefault();
    event.stopPropagation(); // keep JupyterLab's own shortcuts out of the editor
    model.send({ event: "key", key: event.key, shift: event.shiftKey, ctrl: event.ctrlKey, meta: event.metaKey });
  });

  model.on("msg:custom", (msg) => {
    if (msg.event === "committed" && waiting.has(msg.id)) {
      // the edited primitive was sent before this message: drop the preview once it is drawn
      baseDrawn.finally(() => {
        waiting.delete(msg.id);
        drawOverlay();
      });
    }
  });
  model.on("change:base", () => (baseDrawn = drawImage(base, "base")));
  model.on("change:patch", () => drawImage(patch, "patch"));
  model.on("change:shapes", drawOverlay);
  model.on("change:pen", drawOverlay);
  model.on("change:width change:height", () => {
    base.width = 0; // force the redraw at the new size
    sizeLayers();
    drawImage(base, "base");
    drawImage(patch, "patch");
    drawOverlay();
  });
  const resize = new ResizeObserver(() => {
    sizeLayers();
    drawOverlay();
  });
  resize.observe(root);
  sizeLayers();
  baseDrawn = drawImage(base, "base");
  drawImage(patch, "patch");
  drawOverlay();
  return () => resize.disconnect();
}

export default { render };
