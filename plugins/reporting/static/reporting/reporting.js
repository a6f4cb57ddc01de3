/* Draws the report's figure from the JSON the page carries; a bar or slice opens its visits. */
(function () {
  "use strict";
  var holder = document.getElementById("rp-chart-data");
  var canvas = document.getElementById("rp-chart");
  if (!holder || !canvas || !window.Chart) { return; }
  var data = JSON.parse(holder.textContent);
  var palette = ["#2b6cb0", "#c05621", "#2f855a", "#b7791f", "#6b46c1", "#c53030", "#4a5568"];
  var chart = new window.Chart(canvas, {
    type: data.type,
    data: {
      labels: data.labels,
      datasets: [{
        label: data.label,
        data: data.values,
        backgroundColor: data.type === "line" ? "#2b6cb0" : data.labels.map(function (_l, i) { return palette[i % palette.length]; }),
        borderColor: "#2b6cb0",
      }],
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      onClick: function (_event, elements) {
        if (!elements.length) { return; }
        var url = data.drills[elements[0].index];
        if (url) { window.location.href = url; }
      },
      onHover: function (event, elements) {
        event.native.target.style.cursor = elements.length ? "pointer" : "default";
      },
    },
  });
  canvas.dataset.ready = "1";
  window.reportingChart = chart;
})();
