// Lobby's widget. On any site:
//   <script src="https://lobby.example.com/widget.js" data-consultant="tax-helper" async></script>
// adds a button that opens the consultant's chat in a frame of Lobby's own, isolated
// from the page.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.dataset.consultant) return;
  var base = new URL(script.src).origin, slug = script.dataset.consultant, frame = null;
  var button = document.createElement("button");
  button.type = "button";
  button.textContent = script.dataset.label || "Chat";
  button.setAttribute("aria-expanded", "false");
  button.dataset.lobbyWidget = slug;
  var s = button.style;
  s.position = "fixed"; s.right = "1rem"; s.bottom = "1rem"; s.zIndex = "2147483647";
  s.padding = ".6rem 1.1rem"; s.border = "0"; s.borderRadius = "1.5rem";
  s.background = "#3654d1"; s.color = "#fff"; s.font = "600 16px system-ui, sans-serif"; s.cursor = "pointer";
  button.addEventListener("click", function () {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.src = base + "/widget/" + encodeURIComponent(slug);
      frame.title = "Chat with " + slug;
      var f = frame.style;
      f.position = "fixed"; f.right = "1rem"; f.bottom = "4.5rem"; f.zIndex = "2147483647";
      f.width = "min(24rem, calc(100vw - 2rem))"; f.height = "min(36rem, calc(100vh - 6rem))";
      f.border = "1px solid #e4e4e8"; f.borderRadius = ".75rem"; f.background = "#fff";
      f.boxShadow = "0 8px 32px rgba(0,0,0,.18)";
      document.body.appendChild(frame);
    } else {
      frame.hidden = !frame.hidden;
    }
    button.setAttribute("aria-expanded", String(!frame.hidden));
  });
  document.body.appendChild(button);
})();
