/* Charts drawn with TradingView Lightweight Charts (vendored under vendor/, see its LICENSE).
 * Every element with data-chart="<kind>" and data-source="<id of a json_script element>" is drawn:
 *   equity   cumulative realized PnL (line)          daily    realized PnL per day (bars)
 *   bars     the reports' realized PnL per day / week / month (bars, d.bars with d.title)
 *   candles  candles, entries/exits, SL/TP lines, decision scores in a pane underneath
 *   backtest equity curve with its drawdown underneath  compare  several equity curves overlaid
 * A drawn element gets data-drawn="<points>" (what the browser tests read). Times are UTC. */
(function () {
  "use strict";
  var GREEN = "#1b7f3b", RED = "#c62828", BLUE = "#1565c0", GREY = "#78909c";
  var PALETTE = [BLUE, "#ef6c00", "#6a1b9a", GREEN];

  function data(el) {
    var source = document.getElementById(el.getAttribute("data-source"));
    return source ? JSON.parse(source.textContent) : null;
  }

  function empty(el, text) {
    el.classList.add("tb-chart-empty");
    el.textContent = text;
    el.setAttribute("data-drawn", "0");
  }

  function baseChart(el, precision, seconds) {
    var style = window.getComputedStyle(document.body);
    var places = typeof precision === "number" ? precision : 2;
    return LightweightCharts.createChart(el, {
      autoSize: true,
      layout: { attributionLogo: false, background: { type: "solid", color: "transparent" }, textColor: style.color, fontSize: 11 },
      grid: { vertLines: { color: "rgba(128,128,128,0.12)" }, horzLines: { color: "rgba(128,128,128,0.12)" } },
      timeScale: { timeVisible: true, secondsVisible: !!seconds, borderVisible: false },
      rightPriceScale: { borderVisible: false },
      localization: { priceFormatter: function (p) { return p.toFixed(places); } },
    });
  }

  function drawEquity(el, d) {
    if (!d.equity || !d.equity.length) return empty(el, "No closed position yet");
    var chart = baseChart(el, 2, true);
    var s = chart.addSeries(LightweightCharts.BaselineSeries, {
      baseValue: { type: "price", price: 0 },
      topLineColor: GREEN, bottomLineColor: RED,
      topFillColor1: "rgba(27,127,59,0.25)", topFillColor2: "rgba(27,127,59,0.02)",
      bottomFillColor1: "rgba(198,40,40,0.02)", bottomFillColor2: "rgba(198,40,40,0.25)",
      title: "cumulative PnL " + (d.quote || ""),
    });
    s.setData(d.equity);
    chart.timeScale().fitContent();
    el.setAttribute("data-drawn", String(d.equity.length));
  }

  function drawDaily(el, d) {
    var bars = d.bars || d.daily;  // bars: the reports' PnL per day / week / month, with their own title
    if (!bars || !bars.length) return empty(el, "No daily figures");
    var chart = baseChart(el, 2);
    var s = chart.addSeries(LightweightCharts.HistogramSeries, { title: d.title || "daily PnL " + (d.quote || "") });
    s.setData(bars.map(function (p) { return { time: p.time, value: p.value, color: p.value >= 0 ? GREEN : RED }; }));
    chart.timeScale().fitContent();
    el.setAttribute("data-drawn", String(bars.length));
  }

  function drawCandles(el, d) {
    if (!d.candles || !d.candles.length) return empty(el, "No candles (exchange unavailable?)");
    var chart = baseChart(el, d.precision);
    var places = d.precision || 2;
    var candles = chart.addSeries(LightweightCharts.CandlestickSeries, {
      upColor: GREEN, downColor: RED, borderVisible: false, wickUpColor: GREEN, wickDownColor: RED,
      priceFormat: { type: "price", precision: places, minMove: Math.pow(10, -places) },
    });
    candles.setData(d.candles);
    LightweightCharts.createSeriesMarkers(candles, (d.markers || []).map(function (m) {
      var buy = m.side === "buy";
      return { time: m.time, position: buy ? "belowBar" : "aboveBar", color: buy ? GREEN : RED,
               shape: buy ? "arrowUp" : "arrowDown", text: m.text };
    }));
    var colours = { stop: RED, take: GREEN, entry: BLUE };
    (d.lines || []).forEach(function (line) {
      candles.createPriceLine({ price: line.price, color: colours[line.kind] || GREY, lineWidth: 1,
        lineStyle: LightweightCharts.LineStyle.Dashed, axisLabelVisible: true, title: line.label });
    });
    if (d.scores && d.scores.length) {
      var scores = chart.addSeries(LightweightCharts.HistogramSeries, {
        priceFormat: { type: "price", precision: 3, minMove: 0.001 }, title: "decision score",
      }, 1);
      scores.setData(d.scores.map(function (p) {
        return { time: p.time, value: p.score, color: p.action === "buy" ? GREEN : p.action === "sell" ? RED : GREY };
      }));
      var panes = chart.panes();
      if (panes.length > 1) panes[1].setHeight(Math.round(el.clientHeight * 0.25));
    }
    chart.timeScale().fitContent();
    el.setAttribute("data-drawn", String(d.candles.length));
    el.setAttribute("data-markers", String((d.markers || []).length));
  }

  function drawBacktest(el, d) {
    if (!d.equity || !d.equity.length) return empty(el, "No equity curve (the run has not finished)");
    var chart = baseChart(el, 2);
    chart.addSeries(LightweightCharts.LineSeries, { color: BLUE, lineWidth: 2, title: "equity" }).setData(d.equity);
    var dd = chart.addSeries(LightweightCharts.AreaSeries, {
      lineColor: RED, topColor: "rgba(198,40,40,0.05)", bottomColor: "rgba(198,40,40,0.35)", title: "drawdown %",
      invertFilledArea: true,
    }, 1);
    dd.setData(d.drawdown);
    var panes = chart.panes();
    if (panes.length > 1) panes[1].setHeight(Math.round(el.clientHeight * 0.3));
    chart.timeScale().fitContent();
    el.setAttribute("data-drawn", String(d.equity.length));
  }

  function drawCompare(el, d) {
    var runs = (d.runs || []).filter(function (r) { return r.equity && r.equity.length; });
    if (!runs.length) return empty(el, "No equity curves to compare");
    var chart = baseChart(el, 2);
    var total = 0;
    runs.forEach(function (run, i) {
      chart.addSeries(LightweightCharts.LineSeries, { color: PALETTE[i % PALETTE.length], lineWidth: 2, title: run.label })
        .setData(run.equity);
      total += run.equity.length;
    });
    chart.timeScale().fitContent();
    el.setAttribute("data-drawn", String(total));
  }

  var KINDS = { equity: drawEquity, daily: drawDaily, bars: drawDaily, candles: drawCandles, backtest: drawBacktest, compare: drawCompare };

  function drawAll(root) {
    if (typeof LightweightCharts === "undefined") return;
    (root || document).querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.hasAttribute("data-drawn")) return;
      var draw = KINDS[el.getAttribute("data-chart")];
      var d = data(el);
      if (!draw) return;
      if (!d) return empty(el, "No data");
      draw(el, d);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("tb:refreshed", function (event) { drawAll(event.detail); });
})();
