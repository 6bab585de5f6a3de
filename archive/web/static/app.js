// A little help for the server-rendered pages. The server speaks UTC; this shows times in the
// browser's own time zone (UTC stays in each time's title), lets the "as it was on" picker be
// used in local time, and keeps the chosen message in view.
const pad = (n) => String(n).padStart(2, "0");

function zoneName(date) {
  const part = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" })
    .formatToParts(date).find((p) => p.type === "timeZoneName");
  return part ? part.value : "";
}

function localText(date, seconds) {
  const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}` +
    (seconds ? `:${pad(date.getSeconds())}` : "");
  return `${day} ${time} ${zoneName(date)}`;
}

function localInputValue(date) {
  return localText(date, false).slice(0, 16).replace(" ", "T");
}

document.addEventListener("DOMContentLoaded", () => {
  for (const node of document.querySelectorAll("time[datetime]")) {
    const date = new Date(node.getAttribute("datetime"));
    if (!Number.isNaN(date.getTime())) node.textContent = localText(date, false);
  }
  const picker = document.getElementById("asof");
  if (picker) {
    const zone = document.getElementById("asof-tz");
    if (zone) zone.textContent = `(${zoneName(new Date())})`;
    const shown = picker.dataset.utc ? new Date(picker.dataset.utc) : null;
    if (shown && !Number.isNaN(shown.getTime())) picker.value = localInputValue(shown);
    const send = () => {
      // The picker's value is local time; the server is sent the same instant in UTC.
      const hidden = document.getElementById("asof-utc");
      const chosen = new Date(picker.value);
      if (!picker.value || Number.isNaN(chosen.getTime())) return;
      hidden.name = "at";
      hidden.value = chosen.toISOString();
      picker.removeAttribute("name");
    };
    picker.form.addEventListener("submit", send);
    picker.addEventListener("change", () => {
      if (picker.value) {
        send();
        picker.form.submit();
      }
    });
  }
  dayFilters();
  const selected = document.querySelector("tr.selected");
  if (selected) selected.scrollIntoView({ block: "nearest" });
  listKeys(selected);
});

// The filter's days are the browser's days: "from" is sent as the instant that day starts here,
// "to" as the instant the day after starts (the day itself included), both in UTC.
function dayFilters() {
  const form = document.getElementById("filter-form");
  if (!form) return;
  const days = [...form.querySelectorAll("input[type=date]")];
  for (const input of days) {
    const sent = input.dataset.utc;
    if (!sent || sent.length <= 10) continue;
    const when = new Date(new Date(sent).getTime() - (input.dataset.end ? 1 : 0));
    if (!Number.isNaN(when.getTime())) input.value = localInputValue(when).slice(0, 10);
  }
  form.addEventListener("submit", () => {
    for (const input of days) {
      if (!input.value) continue;
      const [year, month, day] = input.value.split("-").map(Number);
      const start = new Date(year, month - 1, day + (input.dataset.end ? 1 : 0));
      const hidden = document.createElement("input");
      hidden.type = "hidden";
      hidden.name = input.name;
      hidden.value = start.toISOString();
      input.removeAttribute("name");
      form.appendChild(hidden);
    }
  });
}

// A mail client's keys in the message list: j or ArrowDown and k or ArrowUp move, Enter opens;
// moving past either end of the page follows the Older or Newer link.
function listKeys(selected) {
  const rows = [...document.querySelectorAll("#messages tbody tr[data-key]")];
  if (!rows.length) return;
  let at = rows.indexOf(selected);
  const focus = (index) => {
    rows.forEach((row) => row.classList.remove("focused"));
    at = index;
    rows[at].classList.add("focused");
    rows[at].querySelector("td.subject a").focus();
  };
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (target.matches && target.matches("input, textarea, select, button")) return;
    const key = event.key;
    if (key === "j" || key === "ArrowDown") {
      if (at + 1 < rows.length) focus(at + 1);
      else if (document.getElementById("older")) document.getElementById("older").click();
    } else if (key === "k" || key === "ArrowUp") {
      if (at > 0) focus(at - 1);
      else if (at === -1) focus(0);
      else if (document.getElementById("newer")) document.getElementById("newer").click();
    } else if (key === "Enter" && at >= 0 && target === document.body) {
      rows[at].querySelector("td.subject a").click();
    } else {
      return;
    }
    event.preventDefault();
  });
}
