// Copy buttons: a button with data-copy="id" copies the text of the element id.
document.addEventListener("click", function (e) {
  var b = e.target.closest("button[data-copy]");
  if (!b) return;
  var text = document.getElementById(b.dataset.copy).textContent;
  navigator.clipboard.writeText(text).then(function () {
    var was = b.textContent;
    b.textContent = "Copied";
    setTimeout(function () { b.textContent = was; }, 1500);
  });
});
