// A little help for the server-rendered pages: picking a time shows the mailbox as it was then.
document.addEventListener("DOMContentLoaded", () => {
  const picker = document.getElementById("asof");
  if (picker) {
    picker.addEventListener("change", () => {
      if (picker.value) picker.form.submit();
    });
  }
  // Keep the chosen message in view after navigation.
  const selected = document.querySelector("tr.selected");
  if (selected) selected.scrollIntoView({ block: "nearest" });
});
