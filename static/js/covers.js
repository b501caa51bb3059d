// Cover art that the archive doesn't have (404) or can't serve (unreachable, blocked)
// is removed, so the placeholder underneath shows instead of a broken image.
(function () {
  "use strict";

  function drop(image) {
    if (image.matches && image.matches("img.cover-art")) image.remove();
  }

  // Errors don't bubble: listen in the capture phase, for images that fail from now on...
  document.addEventListener("error", (event) => drop(event.target), true);
  // ...and for those that failed before this script ran.
  document.querySelectorAll("img.cover-art").forEach((image) => {
    if (image.complete && image.naturalWidth === 0 && image.getAttribute("src")) drop(image);
  });
})();
