// Sign-up: the browser's own time zone, so the first email comes at 08:00 where the reader is.
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
document.querySelectorAll("input[data-guess-time-zone]").forEach((input) => {
  if (zone) input.value = zone;
});
