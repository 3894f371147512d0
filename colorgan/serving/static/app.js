// The original flow: choose file -> preview -> submit -> progress -> result replaces the preview -> download.
// The page's state is on <body data-state="...">: idle, preview, uploading, processing, done, error.
// A file is checked in the browser first (size, readable, pixel count): Colorize stays disabled until a usable
// photo is chosen, and a file that is not one clears the preview and says what is accepted.
(() => {
  const $ = (id) => document.getElementById(id);
  const form = $("form"), input = $("file"), submit = $("submit"), image = $("image"), figure = $("figure");
  const caption = $("caption"), box = $("progress-box"), bar = $("progress"), label = $("progress-label");
  const message = $("message"), actions = $("actions"), toggle = $("toggle"), download = $("download");
  const limits = { mb: 20, megapixels: 50 };  // replaced by the server's own from /api/health
  let originalUrl = null, resultUrl = null, showing = "result", chosen = null, resultName = "", checking = 0;

  function setState(state) { document.body.dataset.state = state; }
  function show(el, visible) { el.hidden = !visible; }
  function accepted() {
    return `Choose a JPEG, PNG, WebP, BMP or TIFF photo of up to ${limits.mb} MB and ${limits.megapixels} megapixels.`;
  }
  function describeLimits() {
    $("limits").textContent = `JPEG, PNG, WebP, BMP or TIFF; up to ${limits.mb} MB and ${limits.megapixels} ` +
      "megapixels. Colour photos work too: their colours are replaced.";
  }
  function clearPreview() {
    image.removeAttribute("src"); image.alt = ""; caption.textContent = ""; show(figure, false);
    if (originalUrl) { URL.revokeObjectURL(originalUrl); originalUrl = null; }
  }
  function fail(text) {
    setState("error"); show(box, false); message.textContent = text; show(message, true);
    submit.disabled = !chosen;
  }
  function reject(text) {  // the chosen file cannot be colorized: no preview, no Colorize
    chosen = null; clearPreview(); show(actions, false); fail(text + " " + accepted());
  }
  function isTiff(bytes) {  // browsers show no TIFF preview; the server reads them
    return (bytes[0] === 0x49 && bytes[1] === 0x49 && bytes[2] === 0x2a && bytes[3] === 0) ||
           (bytes[0] === 0x4d && bytes[1] === 0x4d && bytes[2] === 0 && bytes[3] === 0x2a);
  }

  fetch("/api/health").then((r) => r.json()).then((h) => {
    limits.mb = +(+h.max_upload_mb).toFixed(1); limits.megapixels = +(+h.max_megapixels).toFixed(1);
    describeLimits();
  }).catch(() => { /* keep the defaults */ });

  input.addEventListener("change", async () => {
    const file = input.files[0], ticket = ++checking;
    chosen = null; submit.disabled = true; show(message, false); show(actions, false); clearPreview();
    if (!file) { setState("idle"); return; }
    if (!file.size) { reject(`“${file.name}” is empty.`); return; }
    if (file.size > limits.mb * 1024 * 1024) {
      reject(`“${file.name}” is ${(file.size / 1048576).toFixed(1)} MB, over the ${limits.mb} MB limit.`); return;
    }
    const url = URL.createObjectURL(file);
    const probe = new Image();
    const loaded = await new Promise((resolve) => {
      probe.onload = () => resolve(true); probe.onerror = () => resolve(false); probe.src = url;
    });
    if (ticket !== checking) { URL.revokeObjectURL(url); return; }  // another file was chosen meanwhile
    if (!loaded) {
      URL.revokeObjectURL(url);
      const head = new Uint8Array(await file.slice(0, 4).arrayBuffer());
      if (ticket !== checking) return;
      if (!isTiff(head)) { reject(`“${file.name}” is not an image this page can read.`); return; }
      chosen = file; caption.textContent = "No preview of TIFF files in this browser: " + file.name;
      show(figure, true); submit.disabled = false; setState("preview"); return;
    }
    const megapixels = probe.naturalWidth * probe.naturalHeight / 1e6;
    if (megapixels > limits.megapixels) {
      URL.revokeObjectURL(url);
      reject(`“${file.name}” is ${probe.naturalWidth}x${probe.naturalHeight} (${megapixels.toFixed(1)} ` +
             `megapixels), over the ${limits.megapixels} megapixel limit.`);
      return;
    }
    chosen = file; originalUrl = url;
    image.src = url; image.alt = "preview of " + file.name;
    caption.textContent = "Preview: " + file.name;
    show(figure, true); submit.disabled = false; setState("preview");
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = chosen;
    if (!file) return;
    const body = new FormData(); body.append("file", file);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/colorize"); xhr.responseType = "blob";
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = e.loaded / e.total; };
    xhr.upload.onload = () => {  // sent: the server is colorizing; no percentage for that, so indeterminate
      bar.removeAttribute("value"); label.textContent = "Colorizing…"; setState("processing");
    };
    xhr.onerror = () => fail("The upload failed: is the server still running?");
    xhr.onload = async () => {
      if (xhr.status !== 200) {
        let detail = "error " + xhr.status;
        try { detail = JSON.parse(await xhr.response.text()).detail || detail; } catch (_) { /* not JSON */ }
        if (xhr.status === 503 && xhr.getResponseHeader("Retry-After")) {
          detail += ` (try again in ${xhr.getResponseHeader("Retry-After")} s)`;
        }
        fail(detail); return;
      }
      if (resultUrl) URL.revokeObjectURL(resultUrl);
      resultUrl = URL.createObjectURL(xhr.response);
      resultName = file.name.replace(/\.[^.]*$/, "") + "-colour.png";
      image.src = resultUrl; image.alt = "colorized " + file.name; caption.textContent = "Colorized: " + resultName;
      show(figure, true); download.href = resultUrl; download.download = resultName;
      showing = "result"; toggle.textContent = "Show original"; toggle.hidden = !originalUrl;
      show(box, false); show(actions, true); submit.disabled = false; setState("done");
    };
    bar.value = 0; label.textContent = "Uploading…"; show(box, true); show(message, false); show(actions, false);
    submit.disabled = true; setState("uploading");
    xhr.send(body);
  });

  toggle.addEventListener("click", () => {  // before/after
    showing = showing === "result" ? "original" : "result";
    image.src = showing === "result" ? resultUrl : originalUrl;
    toggle.textContent = showing === "result" ? "Show original" : "Show colour";
    caption.textContent = showing === "result" ? "Colorized: " + resultName : "Original: " + chosen.name;
  });
})();
