// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  // Risk acceptance: the expiry date only means something while the box is ticked.
  function syncRiskDate() {
    var box = document.getElementById("risk_accepted");
    var date = document.getElementById("risk_accepted_until");
    if (!box || !date) { return; }
    var update = function () { date.disabled = !box.checked; };
    box.addEventListener("change", update);
    update();
  }
  // Show times in the reader's own time zone in the tooltip, next to the UTC text.
  function localTimes() {
    var nodes = document.querySelectorAll("time[datetime]");
    for (var i = 0; i < nodes.length; i++) {
      var when = new Date(nodes[i].getAttribute("datetime"));
      if (!isNaN(when.getTime())) {
        nodes[i].title = when.toLocaleString() + " (your time)";
      }
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    syncRiskDate();
    localTimes();
  });
})();
