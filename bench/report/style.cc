#include "bench/report/style.h"

namespace ferry::bench::report {

// Colours: text and greys from a neutral ramp; red is reserved for failed calls, so it never
// doubles as a series colour (the chart palette is Okabe-Ito, see svg.h).
const char kStylesheet[] = R"css(
:root {
  --text: #1f2328; --muted: #59636e; --faint: #8c959f; --line: #d0d7de; --soft: #f6f8fa;
  --accent: #0b5cad; --best: #e6f0fb; --flag: #b42318; --flag-bg: #fdf0ef;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; color: var(--text); background: #ffffff;
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", "Liberation Sans",
        Helvetica, Arial, sans-serif;
}
main { max-width: 1240px; margin: 0 auto; padding: 28px 32px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; letter-spacing: -0.01em; }
h2 { font-size: 19px; margin: 40px 0 6px; padding-top: 14px; border-top: 1px solid var(--line); }
h3 { font-size: 15px; margin: 22px 0 6px; }
p { margin: 6px 0 10px; }
.lede { color: var(--muted); margin: 0 0 18px; max-width: 72em; }
.note { color: var(--muted); max-width: 80em; }
code { font-family: "DejaVu Sans Mono", ui-monospace, monospace; font-size: 12.5px;
       background: var(--soft); padding: 1px 4px; border-radius: 4px; }

/* Setup */
.setup { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr));
         gap: 0; margin: 0; border: 1px solid var(--line); border-radius: 8px;
         overflow: hidden; background: #fff; }
.setup div { padding: 8px 14px; border-right: 1px solid var(--line);
             border-bottom: 1px solid var(--line); background: #fff; }
.setup dt { font-size: 11px; text-transform: uppercase; letter-spacing: 0.05em;
            color: var(--muted); }
.setup dd { margin: 1px 0 0; font-weight: 600; overflow-wrap: anywhere; }
.setup dd.unknown { font-weight: 400; color: var(--faint); font-style: italic; }

/* Navigation */
nav.toc { margin: 18px 0 0; }
nav.toc ol { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: 6px; }
nav.toc a { display: inline-block; padding: 3px 11px; border: 1px solid var(--line);
            border-radius: 999px; color: var(--accent); text-decoration: none; font-size: 13px; }
nav.toc a.absent { color: var(--faint); }

/* Failed calls */
.alert { margin: 18px 0 0; padding: 10px 16px; border: 1px solid #f1c4bf;
         border-left: 5px solid var(--flag); background: var(--flag-bg); border-radius: 6px; }
.alert strong { color: var(--flag); }
.alert ul { margin: 4px 0 0; padding-left: 20px; }
.flag-text { color: var(--flag); font-weight: 600; font-size: 11px; white-space: nowrap; }
td .flag-text { display: block; }
.missing { padding: 12px 16px; border: 1px dashed var(--line); border-radius: 6px;
           color: var(--muted); background: var(--soft); }

/* Answers */
ul.answers { margin: 8px 0 14px; padding-left: 20px; font-size: 15px; }
ul.answers li { margin: 3px 0; }

/* Charts */
figure.chart { margin: 10px 0 6px; padding: 10px 12px 4px; border: 1px solid var(--line);
               border-radius: 8px; background: #fff; }
.chart-svg { display: block; width: 100%; height: auto; overflow: visible;
             font-family: inherit; }
.chart-svg .chart-title { font-size: 15px; font-weight: 650; fill: var(--text); }
.chart-svg .chart-subtitle { font-size: 12px; fill: var(--muted); }
.chart-svg .tick { font-size: 11px; fill: var(--muted); font-variant-numeric: tabular-nums; }
.chart-svg .size-label { font-size: 12.5px; font-weight: 600; fill: var(--text); }
.chart-svg .axis-title { font-size: 12px; fill: #424a53; }
.chart-svg .grid { stroke: #e3e7eb; stroke-width: 1; }
.chart-svg .grid.minor { stroke: #f1f3f5; }
.chart-svg .axis-line { stroke: var(--faint); stroke-width: 1; }
.chart-svg .group-sep { stroke: var(--line); stroke-dasharray: 3 3; }
.chart-svg .whisker { stroke: #24292f; stroke-width: 1.3; fill: none; }
.chart-svg .no-result line { stroke: #c4cbd3; stroke-width: 2; }
.chart-svg .mark.bar.flagged { stroke: var(--flag); stroke-width: 2.2; }
.chart-svg .flag-badge circle { fill: var(--flag); }
.chart-svg .flag-badge text { fill: #fff; font-size: 10px; font-weight: 700; }
.chart-svg .flag-ring { fill: none; stroke: var(--flag); stroke-width: 2; }
/* Hovering a series dims the others: a CSS-only way to follow one line in a busy chart.
   Browsers without :has() simply do not dim. */
.chart-svg:has(.series:hover) .series:not(:hover) { opacity: 0.25; }
.panels { display: grid; grid-template-columns: repeat(auto-fill, minmax(500px, 1fr));
          gap: 12px; }
.panels figure.chart { margin: 0; }

/* Legend */
.legend { margin: 8px 0 4px; }
.legend ul { list-style: none; display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 0;
             padding: 0; }
.legend li { display: inline-flex; align-items: center; gap: 6px; font-size: 13px; }
.legend li.flagged span:first-of-type { color: var(--flag); }
.legend .swatch { flex: none; }
.legend-key { margin: 4px 0 0; font-size: 12px; color: var(--muted); }

/* Tables */
.table-wrap { overflow-x: auto; margin: 10px 0 6px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; min-width: 50%; }
.table-title { font-weight: 600; margin: 0 0 6px; }
th, td { padding: 5px 12px; border-bottom: 1px solid #e8ebee; vertical-align: top;
         text-align: left; }
thead th { font-size: 12px; color: var(--muted); font-weight: 600;
           border-bottom: 2px solid var(--line); white-space: nowrap; }
tbody th { font-weight: 500; white-space: nowrap; }
tbody tr:hover { background: #fafbfc; }
.num { text-align: right; }
td b { font-weight: 650; }
.sub { display: block; font-size: 11px; color: var(--muted); white-space: nowrap; }
td.best { background: var(--best); box-shadow: inset 3px 0 0 var(--accent); }
td.flagged { background: var(--flag-bg); }
td.none { color: var(--faint); }
td.winner { font-weight: 600; }
table.fastest { width: 100%; }
table.fastest thead th { white-space: normal; }
table.fastest td { min-width: 9em; }
.vs { color: var(--muted); font-weight: 400; }
.dot { display: inline-block; width: 9px; height: 9px; border-radius: 50%;
       margin-right: 7px; vertical-align: 0; }

footer { margin-top: 44px; padding-top: 12px; border-top: 1px solid var(--line);
         color: var(--muted); font-size: 12px; }
@media print { .chart-svg .series { opacity: 1 !important; } nav.toc { display: none; } }
)css";

}  // namespace ferry::bench::report
