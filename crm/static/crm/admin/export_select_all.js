// The admin export page's "Select all" box, bound here instead of by an inline onchange attribute (which the
// Content-Security-Policy forbids). onSelectToggleChange comes from django-import-export's
// export_selectable_fields.js, loaded before this file.
document.addEventListener("change", (event) => {
  if (event.target.matches("input.select-toggle")) {
    onSelectToggleChange(event);
  }
});
