// Copy buttons: <button data-copy="element-id"> copies that element's text.
(function () {
  "use strict";
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source || !navigator.clipboard) return;
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        var label = button.textContent;
        button.textContent = "Copied";
        window.setTimeout(function () { button.textContent = label; }, 1500);
      });
    });
  });
})();

// Schedule forms: only the fields of the chosen frequency are shown (all of them without scripts).
(function () {
  "use strict";
  document.querySelectorAll("form[data-schedule]").forEach(function (form) {
    var frequency = form.querySelector("select[name$='frequency']");
    if (!frequency) return;
    function show() {
      form.querySelectorAll("[data-show-for]").forEach(function (field) {
        field.hidden = field.getAttribute("data-show-for").split(" ").indexOf(frequency.value) < 0;
      });
    }
    frequency.addEventListener("change", show);
    show();
  });
})();
