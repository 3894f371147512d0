// The original flow: choose file -> preview -> submit -> progress -> result replaces the preview -> download.
// The page's state is on <body data-state="...">: idle, preview, uploading, processing, done, error.
(() => {
  const $ = (id) => document.getElementById(id);
  const form = $("form"), input = $("file"), submit = $("submit"), image = $("image"), figure = $("figure");
  const caption = $("caption"), box = $("progress-box"), bar = $("progress"), label = $("progress-label");
  const message = $("message"), actions = $("actions"), toggle = $("toggle"), download = $("download");
  let originalUrl = null, resultUrl = null, showing = "result";

  function setState(state) { document.body.dataset.state = state; }
  function show(el, visible) { el.hidden = !visible; }
  function fail(text) {
    setState("error"); show(box, false); message.textContent = text; show(message, true);
    submit.disabled = !input.files.length;
  }

  input.addEventListener("change", () => {
    const file = input.files[0];
    show(message, false); show(actions, false);
    if (!file) { submit.disabled = true; return; }
    if (originalUrl) URL.revokeObjectURL(originalUrl);
    originalUrl = URL.createObjectURL(file);
    image.src = originalUrl; image.alt = "preview of " + file.name;
    caption.textContent = "Preview: " + file.name;
    show(figure, true); submit.disabled = false; setState("preview");
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = input.files[0];
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
        fail(detail); return;
      }
      if (resultUrl) URL.revokeObjectURL(resultUrl);
      resultUrl = URL.createObjectURL(xhr.response);
      const name = file.name.replace(/\.[^.]*$/, "") + "-colour.png";
      image.src = resultUrl; image.alt = "colorized " + file.name; caption.textContent = "Colorized: " + name;
      download.href = resultUrl; download.download = name;
      showing = "result"; toggle.textContent = "Show original";
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
    caption.textContent = (showing === "result" ? "Colorized" : "Original") + ": " + input.files[0].name;
  });
})();
