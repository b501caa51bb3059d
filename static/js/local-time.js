// Show every <time data-local> in the viewer's own time zone; without scripts it stays UTC.
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
const format = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
document.querySelectorAll("time[data-local]").forEach((element) => {
  const moment = new Date(element.getAttribute("datetime"));
  if (!Number.isNaN(moment.getTime())) {
    element.title = element.textContent;
    element.textContent = `${format.format(moment)} (${zone})`;
  }
});
