// Writes a fixture report as HTML, to look at the page without running the benchmark:
//   bazel run //bench:report_html_demo -- /tmp/report.html [full|latency|errors|variants]
#include <cstdio>
#include <fstream>
#include <string>

#include "bench/report/fixtures.h"
#include "bench/report_html.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s OUT.html [full|latency|errors|variants|hostile|empty]\n",
                 argv[0]);
    return 2;
  }
  namespace fx = ferry::bench::report::fixtures;
  std::string which = argc > 2 ? argv[2] : "full";
  ferry::bench::BenchReport report;
  if (which == "full") report = fx::FullReport();
  else if (which == "latency") report = fx::LatencyOnlyReport();
  else if (which == "errors") report = fx::ErrorsReport();
  else if (which == "variants") report = fx::VariantsReport();
  else if (which == "hostile") report = fx::HostileReport();
  else if (which != "empty") {
    std::fprintf(stderr, "unknown fixture \"%s\"\n", which.c_str());
    return 2;
  }
  std::ofstream out(argv[1], std::ios::binary);
  out << ferry::bench::RenderHtmlReport(report);
  out.close();
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", argv[1]);
    return 1;
  }
  return 0;
}
