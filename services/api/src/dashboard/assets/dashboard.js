// ipwatch dashboard: progressive enhancement only. Every page works without it; with it, charts
// are drawn (uPlot) from the data the page carries in data- attributes (never markup), and the
// overview's live mode reloads it. No eval, no inline script: the CSP allows this file only.
(function () {
  'use strict';

  /** <div class="chart" data-chart='{"x":[unix seconds...],"series":[{"label":"requests","values":[...]}],"title":"..."}'> */
  function drawCharts() {
    if (typeof window.uPlot !== 'function') return;
    var palette = ['#0969da', '#cf222e', '#9a6700', '#1a7f37', '#8250df'];
    document.querySelectorAll('.chart[data-chart]').forEach(function (el) {
      if (el.dataset.drawn) return;
      var spec;
      try { spec = JSON.parse(el.dataset.chart); } catch (e) { return; }
      var data = [spec.x].concat(spec.series.map(function (s) { return s.values; }));
      var series = [{}].concat(spec.series.map(function (s, i) {
        return { label: String(s.label), stroke: palette[i % palette.length], width: 1.5, fill: i === 0 ? 'rgba(9,105,218,0.08)' : undefined, scale: s.scale || 'y' };
      }));
      // Room for counts such as 1,666,269 on the left axis (uPlot's default 50 px cuts them).
      var axes = [{}, { scale: 'y', size: 70 }];
      if (spec.series.some(function (s) { return s.scale === '%'; })) axes.push({ scale: '%', side: 1, grid: { show: false }, values: function (u, vs) { return vs.map(function (v) { return v + '%'; }); } });
      var width = Math.max(300, el.clientWidth || 600);
      el.textContent = '';
      el.dataset.drawn = '1';
      new window.uPlot({ width: width, height: 220, series: series, axes: axes, scales: { x: { time: true } } }, data, el);
    });
  }

  /** <body data-refresh="30">: reload every N seconds while the page is visible (live mode). */
  function liveMode() {
    var seconds = Number(document.body.dataset.refresh);
    if (!seconds) return;
    setTimeout(function tick() {
      if (document.visibilityState === 'visible') window.location.reload();
      else setTimeout(tick, seconds * 1000);
    }, seconds * 1000);
  }

  function start() {
    drawCharts();
    liveMode();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
  document.addEventListener('htmx:afterSwap', drawCharts);
})();
