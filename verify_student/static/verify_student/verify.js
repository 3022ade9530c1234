/* The verification page, enhanced: camera capture, previews and size checks.
 *
 * Without this script the page is a plain multipart form. With it, a photo
 * taken with the camera is put into the same file input, so the form posts
 * what it would have posted with a file chosen by hand. Messages come from
 * the form's data-msg-* attributes (translated by the server).
 */
(function () {
  "use strict";
  var form = document.getElementById("vs-form");
  if (!form) return;
  var maxBytes = parseInt(form.dataset.maxBytes, 10) || 0;
  var canCapture = !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia &&
    window.DataTransfer && window.HTMLCanvasElement);

  function message(name) { return form.getAttribute("data-msg-" + name) || ""; }

  function setError(box, text) {
    var field = box.dataset.field;
    var error = document.getElementById(field + "-error");
    var input = box.querySelector("input[type=file]");
    error.textContent = text;
    error.hidden = !text;
    if (text) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  function showPreview(box, file) {
    var img = box.querySelector(".vs-preview");
    if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
    if (!file) { img.hidden = true; img.removeAttribute("src"); return; }
    img.dataset.url = URL.createObjectURL(file);
    img.src = img.dataset.url;
    img.hidden = false;
  }

  function checkFile(box, file) {
    if (!file) return "";
    if (file.type && ["image/jpeg", "image/png"].indexOf(file.type) < 0) return message("wrong-type");
    if (maxBytes && file.size > maxBytes) return message("too-large-" + box.dataset.field);
    return "";
  }

  function setupPhoto(box) {
    var input = box.querySelector("input[type=file]");
    var camera = box.querySelector(".vs-camera");
    var start = box.querySelector(".vs-camera-start");
    var take = box.querySelector(".vs-camera-take");
    var stop = box.querySelector(".vs-camera-stop");
    var video = box.querySelector(".vs-video");
    var status = box.querySelector(".vs-camera-message");
    var stream = null;

    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      var problem = checkFile(box, file);
      setError(box, problem);
      if (problem) { input.value = ""; showPreview(box, null); return; }
      showPreview(box, file);
    });

    if (!canCapture) return;
    camera.hidden = false;

    function stopCamera() {
      if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
      stream = null;
      video.srcObject = null;
      video.hidden = take.hidden = stop.hidden = true;
      start.hidden = false;
    }

    start.addEventListener("click", function () {
      status.textContent = "";
      navigator.mediaDevices.getUserMedia({ video: { facingMode: box.dataset.facing }, audio: false })
        .then(function (media) {
          stream = media;
          video.srcObject = media;
          video.hidden = take.hidden = stop.hidden = false;
          start.hidden = true;
          video.play();
          status.textContent = message("camera-on");
          take.focus();
        })
        .catch(function () {
          stopCamera();
          status.textContent = message("camera-refused");
          input.focus();
        });
    });

    stop.addEventListener("click", function () { stopCamera(); start.focus(); });

    take.addEventListener("click", function () {
      var canvas = document.createElement("canvas");
      canvas.width = video.videoWidth || 640;
      canvas.height = video.videoHeight || 480;
      canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
      canvas.toBlob(function (blob) {
        if (!blob) return;
        var file = new File([blob], box.dataset.field + ".jpg", { type: "image/jpeg" });
        var transfer = new DataTransfer();
        transfer.items.add(file);
        input.files = transfer.files;
        input.dispatchEvent(new Event("change", { bubbles: true }));
        stopCamera();
        status.textContent = message("taken");
        input.focus();
      }, "image/jpeg", 0.92);
    });
  }

  Array.prototype.forEach.call(form.querySelectorAll(".vs-photo"), setupPhoto);

  form.addEventListener("submit", function (event) {
    var blocked = false;
    Array.prototype.forEach.call(form.querySelectorAll(".vs-photo"), function (box) {
      var input = box.querySelector("input[type=file]");
      var problem = checkFile(box, input.files && input.files[0]);
      if (problem) { setError(box, problem); if (!blocked) input.focus(); blocked = true; }
    });
    if (blocked) { event.preventDefault(); return; }
    var button = document.getElementById("vs-submit");
    button.disabled = true;
    button.textContent = message("sending");
  });

  var summary = document.getElementById("vs-errors");
  if (summary) summary.focus();
})();
