// The survey admin's "Send campaign" page (admin/surveys/survey/campaign.html); a static file, so the page needs no
// inline script under the Content-Security-Policy. Pressing "Send campaign" disables the button once the form is
// submitting, so a double click does not post twice (the campaign key makes a second post harmless anyway).
(function () {
  "use strict";
  var form = document.getElementById("campaign-form");
  if (!form) return;
  form.addEventListener("submit", function () {
    var button = document.getElementById("campaign-send");
    if (button && document.activeElement === button) {
      setTimeout(function () { button.disabled = true; }, 0);
    }
  });
})();
