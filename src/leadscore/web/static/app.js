// Draw every Plotly figure the page embedded as JSON: <div class="chart" data-figure="...">.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("div.chart[data-figure]").forEach(function (el) {
    var figure = JSON.parse(el.getAttribute("data-figure"));
    Plotly.newPlot(el, figure.data, figure.layout, {displaylogo: false, responsive: true});
  });
  // Filter changes apply (and are saved) at once; the button stays for keyboard users.
  document.querySelectorAll("form.filters select[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });
});
