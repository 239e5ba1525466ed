// The survey answer page (surveys/templates/surveys/answer.html); a static file, so the page needs no inline script.
//
// The follow-up question follows the chosen score. When the page was opened from a score link in the email
// (data-autosubmit), the score is recorded after the person's first trusted input: a mouse move, a press, a touch
// or a key. A mail scanner's headless browser loads the page but gives no such input, so it records nothing
// (surveys/link_scan.py). If the server asks for a confirmation (several scores of this email opened within
// seconds), the page shows the Confirm button instead.
(function () {
  "use strict";
  var form = document.getElementById("answer-form");
  if (!form) return;
  var notice = document.getElementById("recorded");
  var label = document.getElementById("follow-up");
  var submit = document.getElementById("submit");
  var pending = document.getElementById("pending");

  form.addEventListener("change", function (e) {
    if (e.target.name === "score" && e.target.dataset.followUp) label.textContent = e.target.dataset.followUp;
  });

  if (form.dataset.autosubmit !== "1") return;
  if (pending) pending.hidden = true; // the "press Submit" hint is for browsers without JavaScript

  var INPUTS = ["pointermove", "pointerdown", "touchstart", "keydown"];
  var sent = false;

  function stopListening() {
    INPUTS.forEach(function (type) { window.removeEventListener(type, onInput, true); });
    form.removeEventListener("change", onChange);
  }

  function askToConfirm(message) {
    pending = pending || document.createElement("div");
    pending.className = "pending";
    pending.id = "pending";
    pending.setAttribute("role", "status");
    pending.textContent = message;
    pending.hidden = false;
    if (!pending.parentNode) form.parentNode.insertBefore(pending, form);
    submit.textContent = "Confirm";
  }

  function record(signal) {
    if (sent) return;
    sent = true;
    stopListening();
    var data = new FormData(form);
    data.append("autosubmit", "1");
    data.append("human", signal);
    fetch(window.location.href, {
      method: "POST", body: data, credentials: "same-origin", headers: {"X-Requested-With": "fetch"}
    })
      .then(function (r) {
        if (r.status === 409) return r.json().then(function (body) { askToConfirm(body.detail); return null; });
        return r.ok ? r.json() : Promise.reject(r.status);
      })
      .then(function (body) {
        if (!body) return;
        notice.className = "notice";
        notice.textContent = "Thank you! Your answer (" + body.score + ") is recorded. "
          + "You can change it or add a comment below.";
        notice.hidden = false;
        submit.textContent = "Save";
        if (body.follow_up) label.textContent = body.follow_up;
      })
      .catch(function () {
        notice.className = "errors";
        notice.textContent = "Your answer is not saved yet: please press Submit.";
        notice.hidden = false;
      });
  }

  function onInput(e) {
    if (!e.isTrusted) return; // a script's synthetic event is not a person
    // A press or key on the scores themselves chooses a score: record that choice (the change event) instead.
    if (e.type !== "pointermove" && e.target && e.target.closest && e.target.closest(".scores")) return;
    record(e.type);
  }

  function onChange(e) {
    if (e.isTrusted && e.target.name === "score") record("change");
  }

  INPUTS.forEach(function (type) { window.addEventListener(type, onInput, {capture: true, passive: true}); });
  form.addEventListener("change", onChange);
})();
