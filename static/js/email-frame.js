// The email's frame grows to the email's height, so a phone shows all of it with the page's one
// scroll bar (a fixed-height frame hid its last links in a scroll area of its own). The frame is
// same-origin but runs no scripts (sandbox without allow-scripts), so this page measures it.
// Without scripts it keeps its fixed height from site.css.
document.querySelectorAll("iframe[data-fit-content]").forEach((frame) => {
  const fit = () => {
    const root = frame.contentDocument && frame.contentDocument.documentElement;
    const border = frame.offsetHeight - frame.clientHeight; // box-sizing: border-box
    if (root) frame.style.height = `${Math.ceil(root.getBoundingClientRect().height) + border}px`;
  };
  frame.addEventListener("load", fit);
  window.addEventListener("resize", fit); // narrower is taller
  const loaded = frame.contentDocument; // about:blank until the email arrives
  if (loaded && loaded.URL !== "about:blank" && loaded.readyState === "complete") fit();
});
