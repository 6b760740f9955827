// /desk/reports/: draws the report's charts with Apache ECharts (served from our own static
// files). Without ECharts or without JavaScript the page keeps its tables, which carry the
// same figures and links; with it, each chart opens the conversations behind a point or bar.
(function () {
  "use strict";

  // The two date boxes matter only for 自定义: shown with it, hidden otherwise (all shown without JavaScript).
  function customDates() {
    var period = document.getElementById("kefu-period");
    if (!period) return;
    function toggle() {
      Array.prototype.forEach.call(document.querySelectorAll(".custom-dates"), function (el) {
        el.hidden = period.value !== "custom";
      });
    }
    period.addEventListener("change", toggle);
    toggle();
  }

  function start() {
    customDates();
    var page = document.getElementById("kefu-reports");
    var data = document.getElementById("kefu-report-data");
    if (!page || !data || typeof window.echarts === "undefined") return;
    var report = JSON.parse(data.textContent);
    var drillBase = page.getAttribute("data-drill");
    var charts = [];

    function drill(metric, by, key) {
      var url = drillBase + "&metric=" + encodeURIComponent(metric);
      if (by) url += "&by=" + encodeURIComponent(by) + "&key=" + encodeURIComponent(key);
      window.location.href = url;
    }

    function draw(el, option, onClick) {
      var chart = window.echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(option);
      if (onClick) chart.on("click", onClick);
      charts.push(chart);
      // The chart carries the figures now: fold its table away (still one click from view).
      var table = el.parentNode.querySelector("details.chart-data");
      if (table) table.open = false;
      el.setAttribute("data-ready", "1");
    }

    var grid = { left: 48, right: 16, top: 32, bottom: 28, containLabel: true };
    var builders = {
      trend: function (el) {
        var t = report.trend;
        draw(el, {
          tooltip: { trigger: "axis" },
          legend: { data: ["本期", "上期"], top: 0, right: 0 },
          grid: grid,
          xAxis: { type: "category", data: t.labels },
          yAxis: { type: "value", minInterval: 1 },
          series: [
            { name: "本期", type: "line", data: t.current, symbolSize: 7 },
            { name: "上期", type: "line", data: t.previous, lineStyle: { type: "dashed" }, symbolSize: 4 }
          ]
        }, function (p) {
          if (p.seriesIndex === 0) drill(t.name, "day", t.keys[p.dataIndex]);
        });
      },
      distribution: function (el) {
        var d = report.distribution;
        var series = { name: d.label, type: "bar", barMaxWidth: 28, data: d.values };
        if (d.target != null) {
          series.markLine = { symbol: "none", data: [{ yAxis: d.target, name: "目标" }], label: { position: "insideEndTop", formatter: "目标 {c}" } };
        }
        draw(el, {
          tooltip: { trigger: "axis" },
          grid: grid,
          xAxis: { type: "category", name: d.axis_label, data: d.labels },
          yAxis: { type: "value", name: d.unit === "s" ? "秒" : "" },
          series: [series]
        }, function (p) { drill(d.name, d.by, d.keys[p.dataIndex]); });
      },
      histogram: function (el) {
        var h = report.histogram;
        draw(el, {
          tooltip: {
            trigger: "axis",
            axisPointer: { type: "shadow" },
            formatter: function (items) {
              var i = items[0].dataIndex;
              return h.labels[i] + "：" + h.counts[i] + " 个会话" + (h.shares[i] == null ? "" : "（" + h.shares[i] + "%）");
            }
          },
          grid: grid,
          xAxis: { type: "category", data: h.labels, axisLabel: { interval: 0, rotate: 30 } },
          yAxis: { type: "value", name: "会话数", minInterval: 1 },
          series: [{
            name: h.label, type: "bar", barMaxWidth: 36, data: h.counts,
            itemStyle: { color: function (p) { return h.keys[p.dataIndex] === "overdue" ? "#c0392b" : "#3b7dd8"; } }
          }]
        });
      },
      heatmap: function (el) {
        var h = report.heatmap;
        var cells = [];
        h.values.forEach(function (row, day) {
          row.forEach(function (value, hour) { cells.push([hour, day, value == null ? "-" : value]); });
        });
        draw(el, {
          tooltip: { position: "top" },
          grid: { left: 48, right: 16, top: 16, bottom: 64, containLabel: true },
          xAxis: { type: "category", data: h.hours.map(function (x) { return x + "时"; }), splitArea: { show: true } },
          yAxis: { type: "category", data: h.weekdays, inverse: true, splitArea: { show: true } },
          visualMap: { min: 0, max: Math.max(1, h.max), calculable: true, orient: "horizontal", left: "center", bottom: 0 },
          series: [{ name: "会话量", type: "heatmap", data: cells, emphasis: { itemStyle: { borderColor: "#333", borderWidth: 1 } } }]
        }, function (p) {
          if (p.value && p.value[2] !== "-") drill(h.name, "weekday,hour", p.value[1] + "," + p.value[0]);
        });
      },
      breakdown: function (el) {
        var by = el.getAttribute("data-by");
        var b = report.breakdowns.filter(function (x) { return x.by === by; })[0];
        if (!b || !b.rows.length) { el.style.display = "none"; return; }
        var rows = b.rows.slice(0, 15).reverse();
        draw(el, {
          tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
          grid: grid,
          xAxis: { type: "value", minInterval: 1 },
          yAxis: { type: "category", data: rows.map(function (r) { return r.label; }) },
          series: [{ name: b.metrics[0] ? b.metrics[0].label : "会话量", type: "bar", barMaxWidth: 28, data: rows.map(function (r) { return r.values.volume; }) }]
        }, function (p) { drill("volume", by, rows[p.dataIndex].key); });
      }
    };

    page.classList.add("charts-ready");
    Array.prototype.forEach.call(page.querySelectorAll(".chart[data-chart]"), function (el) {
      var build = builders[el.getAttribute("data-chart")];
      if (build) build(el);
    });
    window.addEventListener("resize", function () {
      charts.forEach(function (c) { c.resize(); });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
