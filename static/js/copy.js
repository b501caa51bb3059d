// A "Copy" button beside each read-only address: data-copy names the input it copies.
document.querySelectorAll("button[data-copy]").forEach((button) => {
  button.hidden = false; // without scripts there is nothing to click: the field can still be selected
  button.addEventListener("click", async () => {
    const field = document.getElementById(button.dataset.copy);
    const status = document.getElementById(`${button.dataset.copy}-status`);
    try {
      await navigator.clipboard.writeText(field.value);
      status.textContent = "Copied.";
    } catch {
      field.select(); // no clipboard access (an insecure origin, a refusal): leave it selected instead
      status.textContent = "Selected: press Ctrl+C (⌘C on a Mac) to copy.";
    }
  });
});
