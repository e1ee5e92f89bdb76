// The report's stylesheet, inlined into every page (the page must open with no network).
//
// Internal to //bench:report_html.
#ifndef FERRY_BENCH_REPORT_STYLE_H_
#define FERRY_BENCH_REPORT_STYLE_H_

namespace ferry::bench::report {

extern const char kStylesheet[];

}  // namespace ferry::bench::report

#endif  // FERRY_BENCH_REPORT_STYLE_H_
