#include "bench/output.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "runtime/status.h"

namespace ferry::bench {
namespace {

// Shortest form that reads back the same to ~7 significant digits.
std::string Number(double v) { return absl::StrFormat("%.7g", v); }

// ---- JSON ----

class JsonObject {
 public:
  explicit JsonObject(std::string* out, int indent) : out_(out), indent_(indent) {
    out_->append("{");
  }
  void Key(absl::string_view key) {
    absl::StrAppend(out_, first_ ? "\n" : ",\n", std::string(indent_ + 2, ' '), JsonString(key),
                    ": ");
    first_ = false;
  }
  void Raw(absl::string_view key, absl::string_view json) {
    Key(key);
    out_->append(json.data(), json.size());
  }
  void String(absl::string_view key, absl::string_view value) { Raw(key, JsonString(value)); }
  void Int(absl::string_view key, int64_t value) { Raw(key, absl::StrCat(value)); }
  void Double(absl::string_view key, double value) {
    if (std::isfinite(value)) Raw(key, Number(value));
  }
  void Optional(absl::string_view key, const std::optional<double>& value) {
    if (value.has_value()) Double(key, *value);
  }
  void Close() { absl::StrAppend(out_, "\n", std::string(indent_, ' '), "}"); }

 private:
  std::string* out_;
  int indent_;
  bool first_ = true;
};

template <typename T, typename F>
std::string JsonArray(const std::vector<T>& items, F format) {
  std::vector<std::string> parts;
  for (const T& item : items) parts.push_back(format(item));
  return absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
}

void SetupJson(const Setup& s, std::string* out) {
  JsonObject o(out, 2);
  o.String("cpu_model", s.cpu_model);
  o.Int("cores", s.cores);
  o.String("kernel", s.kernel);
  o.String("hostname", s.hostname);
  o.String("pinning", s.pinning);
  o.String("location", s.location);
  o.Raw("sizes", JsonArray(s.sizes, [](uint64_t v) { return absl::StrCat(v); }));
  o.Raw("concurrency", JsonArray(s.concurrency, [](int v) { return absl::StrCat(v); }));
  o.Int("iterations", static_cast<int64_t>(s.iterations));
  o.Int("warmup", static_cast<int64_t>(s.warmup));
  o.Double("duration_s", s.duration_s);
  o.Double("open_loop_rate", s.open_loop_rate);
  o.Double("open_loop_load", s.open_loop_load);
  o.Raw("modes", JsonArray(s.modes, [](const std::string& m) { return JsonString(m); }));
  o.String("ferry_version", s.ferry_version);
  o.String("date", s.date);
  o.Close();
}

void ResultJson(const Result& r, std::string* out) {
  JsonObject o(out, 4);
  o.String("impl", r.impl);
  o.String("transport", r.transport);
  o.String("variant", r.variant);
  o.String("mode", r.mode);
  o.Int("size", static_cast<int64_t>(r.size));
  o.Int("concurrency", r.concurrency);
  o.Optional("p50_us", r.p50_us);
  o.Optional("p90_us", r.p90_us);
  o.Optional("p99_us", r.p99_us);
  o.Optional("p999_us", r.p999_us);
  o.Optional("max_us", r.max_us);
  o.Optional("mean_us", r.mean_us);
  o.Optional("calls_per_s", r.calls_per_s);
  o.Optional("mb_per_s", r.mb_per_s);
  o.Optional("cpu_us_per_call", r.cpu_us_per_call);
  o.Optional("offered_calls_per_s", r.offered_calls_per_s);
  std::vector<std::string> points;
  for (const PercentilePoint& p : r.percentiles) {
    if (std::isfinite(p.percentile) && std::isfinite(p.us)) {
      points.push_back(absl::StrCat("{\"p\": ", Number(p.percentile), ", \"us\": ", Number(p.us), "}"));
    }
  }
  o.Raw("percentiles", absl::StrCat("[", absl::StrJoin(points, ", "), "]"));
  o.Int("errors", static_cast<int64_t>(r.errors));
  o.Close();
}

// ---- CSV ----

std::string CsvField(absl::string_view s) {
  if (s.find_first_of(",\"\r\n") == absl::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string CsvOptional(const std::optional<double>& v) {
  return v.has_value() && std::isfinite(*v) ? Number(*v) : "";
}

// A comment line: no newline may end it early.
std::string CsvComment(absl::string_view key, absl::string_view value) {
  std::string v(value);
  std::replace(v.begin(), v.end(), '\n', ' ');
  std::replace(v.begin(), v.end(), '\r', ' ');
  return absl::StrCat("# ", key, ": ", v, "\n");
}

// ---- Tables ----

// Three significant digits, at most two decimals: 1.23, 12.3, 123, 1234.
std::string Short(double v) {
  if (v < 10) return absl::StrFormat("%.2f", v);
  if (v < 100) return absl::StrFormat("%.1f", v);
  return absl::StrFormat("%.0f", v);
}

// 950, 12.3k, 1.25M.
std::string Rate(double v) {
  if (v >= 1e6) return absl::StrFormat("%.2fM", v / 1e6);
  if (v >= 1e4) return absl::StrFormat("%.1fk", v / 1e3);
  if (v >= 1e3) return absl::StrFormat("%.2fk", v / 1e3);
  return absl::StrFormat("%.0f", v);
}

std::string Ratio(const std::optional<double>& num, const std::optional<double>& den) {
  if (!num.has_value() || !den.has_value() || !(*den > 0)) return "-";
  return absl::StrFormat("%.2fx", *num / *den);
}

std::string Errors(const Result* r) {
  return r != nullptr && r->errors > 0 ? absl::StrCat(" (", r->errors, " errors)") : "";
}

std::string RenderTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      const int w = static_cast<int>(width[i]);
      // The transport and impl columns read left to right; figures line up on the right.
      absl::StrAppend(&line, i == 0 ? "" : "  ",
                      i < 2 ? absl::StrFormat("%-*s", w, row[i]) : absl::StrFormat("%*s", w, row[i]));
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

// The results of one mode, indexed for the tables.
struct ModeView {
  std::vector<std::string> transports;  // first-appearance order
  std::map<std::string, std::vector<std::string>> impls;  // per transport: ferry, raw, grpc
  std::vector<uint64_t> sizes;
  std::vector<int> concurrency;
  std::map<std::tuple<std::string, std::string, uint64_t, int>, const Result*> at;

  const Result* Find(const std::string& t, const std::string& impl, uint64_t size, int c) const {
    auto it = at.find({t, impl, size, c});
    return it == at.end() ? nullptr : it->second;
  }
};

ModeView View(const BenchReport& report, absl::string_view mode) {
  ModeView v;
  for (const Result& r : report.results) {
    if (r.mode != mode) continue;
    const std::string t = r.variant.empty() ? r.transport : absl::StrCat(r.transport, "/", r.variant);
    if (std::find(v.transports.begin(), v.transports.end(), t) == v.transports.end()) {
      v.transports.push_back(t);
    }
    std::vector<std::string>& impls = v.impls[t];
    if (std::find(impls.begin(), impls.end(), r.impl) == impls.end()) impls.push_back(r.impl);
    if (std::find(v.sizes.begin(), v.sizes.end(), r.size) == v.sizes.end()) v.sizes.push_back(r.size);
    if (std::find(v.concurrency.begin(), v.concurrency.end(), r.concurrency) ==
        v.concurrency.end()) {
      v.concurrency.push_back(r.concurrency);
    }
    v.at[{t, r.impl, r.size, r.concurrency}] = &r;
  }
  std::sort(v.sizes.begin(), v.sizes.end());
  std::sort(v.concurrency.begin(), v.concurrency.end());
  const std::vector<std::string> order = {"ferry", "raw", "rawpb", "grpc"};
  for (auto& [t, impls] : v.impls) {
    std::stable_sort(impls.begin(), impls.end(), [&](const std::string& a, const std::string& b) {
      auto rank = [&](const std::string& s) {
        return std::find(order.begin(), order.end(), s) - order.begin();
      };
      return rank(a) < rank(b);
    });
  }
  return v;
}

bool Has(const std::vector<std::string>& v, absl::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Latency and open loop: columns are sizes, cells p50 / p99.
std::string LatencyTable(const ModeView& v) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {"transport", "impl"};
  for (uint64_t s : v.sizes) header.push_back(FormatSize(s));
  rows.push_back(header);
  for (const std::string& t : v.transports) {
    const std::vector<std::string>& impls = v.impls.at(t);
    for (const std::string& impl : impls) {
      std::vector<std::string> row = {t, impl};
      for (uint64_t s : v.sizes) {
        const Result* r = v.Find(t, impl, s, 1);
        if (r == nullptr || !r->p50_us.has_value()) {
          row.push_back(absl::StrCat("-", Errors(r)));
        } else {
          row.push_back(absl::StrCat(Short(*r->p50_us), " / ", Short(r->p99_us.value_or(0)), Errors(r)));
        }
      }
      rows.push_back(row);
    }
    auto ratio_row = [&](const std::string& num, const std::string& den, const std::string& label) {
      if (!Has(impls, num) || !Has(impls, den)) return;
      std::vector<std::string> row = {t, label};
      for (uint64_t s : v.sizes) {
        const Result* a = v.Find(t, num, s, 1);
        const Result* b = v.Find(t, den, s, 1);
        row.push_back(a && b ? Ratio(a->p50_us, b->p50_us) : "-");
      }
      rows.push_back(row);
    };
    ratio_row("ferry", "raw", "ferry/raw");
    ratio_row("ferry", "rawpb", "ferry/rawpb");
    ratio_row("grpc", "ferry", "grpc/ferry");
  }
  return RenderTable(rows);
}

// Throughput, one table per size: columns are caller counts, cells calls/s and CPU per call.
std::string ThroughputTable(const ModeView& v, uint64_t size) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {"transport", "impl"};
  for (int c : v.concurrency) header.push_back(absl::StrCat(c, c == 1 ? " caller" : " callers"));
  rows.push_back(header);
  for (const std::string& t : v.transports) {
    const std::vector<std::string>& impls = v.impls.at(t);
    for (const std::string& impl : impls) {
      std::vector<std::string> row = {t, impl};
      for (int c : v.concurrency) {
        const Result* r = v.Find(t, impl, size, c);
        if (r == nullptr || !r->calls_per_s.has_value()) {
          row.push_back(absl::StrCat("-", Errors(r)));
          continue;
        }
        std::string cell = absl::StrCat(Rate(*r->calls_per_s), "/s");
        if (r->cpu_us_per_call.has_value()) {
          absl::StrAppend(&cell, " ", Short(*r->cpu_us_per_call), "us");
        }
        row.push_back(absl::StrCat(cell, Errors(r)));
      }
      rows.push_back(row);
    }
    // Costs: time per call is 1 / calls_per_s, so ferry's cost over raw's is raw/ferry.
    auto ratio_row = [&](const std::string& costly, const std::string& cheap,
                         const std::string& label) {
      if (!Has(impls, costly) || !Has(impls, cheap)) return;
      std::vector<std::string> row = {t, label};
      for (int c : v.concurrency) {
        const Result* a = v.Find(t, costly, size, c);
        const Result* b = v.Find(t, cheap, size, c);
        if (a == nullptr || b == nullptr) {
          row.push_back("-");
          continue;
        }
        row.push_back(absl::StrCat(Ratio(b->calls_per_s, a->calls_per_s), " cpu ",
                                   Ratio(a->cpu_us_per_call, b->cpu_us_per_call)));
      }
      rows.push_back(row);
    };
    ratio_row("ferry", "raw", "ferry/raw");
    ratio_row("ferry", "rawpb", "ferry/rawpb");
    ratio_row("grpc", "ferry", "grpc/ferry");
  }
  return RenderTable(rows);
}

}  // namespace

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          absl::StrAppend(&out, absl::StrFormat("\\u%04x", c));
        } else {
          out += static_cast<char>(c);  // UTF-8 passes through
        }
    }
  }
  out += '"';
  return out;
}

std::string ToJson(const BenchReport& report) {
  std::string out = absl::StrCat("{\n  \"schema_version\": ", kJsonSchemaVersion, ",\n  \"setup\": ");
  SetupJson(report.setup, &out);
  out += ",\n  \"results\": [";
  for (size_t i = 0; i < report.results.size(); ++i) {
    out += i == 0 ? "\n    " : ",\n    ";
    ResultJson(report.results[i], &out);
  }
  out += report.results.empty() ? "]\n}\n" : "\n  ]\n}\n";
  return out;
}

std::string ToCsv(const BenchReport& report) {
  const Setup& s = report.setup;
  std::string out;
  absl::StrAppend(&out, CsvComment("ferry-bench schema_version", absl::StrCat(kJsonSchemaVersion)));
  absl::StrAppend(&out, CsvComment("cpu_model", s.cpu_model));
  absl::StrAppend(&out, CsvComment("cores", absl::StrCat(s.cores)));
  absl::StrAppend(&out, CsvComment("kernel", s.kernel));
  absl::StrAppend(&out, CsvComment("hostname", s.hostname));
  absl::StrAppend(&out, CsvComment("pinning", s.pinning));
  absl::StrAppend(&out, CsvComment("location", s.location));
  absl::StrAppend(&out, CsvComment("sizes", absl::StrJoin(s.sizes, " ")));
  absl::StrAppend(&out, CsvComment("concurrency", absl::StrJoin(s.concurrency, " ")));
  absl::StrAppend(&out, CsvComment("iterations", absl::StrCat(s.iterations)));
  absl::StrAppend(&out, CsvComment("warmup", absl::StrCat(s.warmup)));
  absl::StrAppend(&out, CsvComment("duration_s", Number(s.duration_s)));
  absl::StrAppend(&out, CsvComment("open_loop_rate", Number(s.open_loop_rate)));
  absl::StrAppend(&out, CsvComment("open_loop_load", Number(s.open_loop_load)));
  absl::StrAppend(&out, CsvComment("modes", absl::StrJoin(s.modes, " ")));
  absl::StrAppend(&out, CsvComment("ferry_version", s.ferry_version));
  absl::StrAppend(&out, CsvComment("date", s.date));
  out +=
      "impl,transport,variant,mode,size,concurrency,p50_us,p90_us,p99_us,p999_us,max_us,"
      "mean_us,calls_per_s,mb_per_s,cpu_us_per_call,offered_calls_per_s,errors,percentiles\n";
  for (const Result& r : report.results) {
    std::vector<std::string> curve;
    for (const PercentilePoint& p : r.percentiles) {
      curve.push_back(absl::StrCat(Number(p.percentile), ":", Number(p.us)));
    }
    const std::vector<std::string> fields = {
        CsvField(r.impl),           CsvField(r.transport),      CsvField(r.variant),
        CsvField(r.mode),           absl::StrCat(r.size),       absl::StrCat(r.concurrency),
        CsvOptional(r.p50_us),      CsvOptional(r.p90_us),      CsvOptional(r.p99_us),
        CsvOptional(r.p999_us),     CsvOptional(r.max_us),      CsvOptional(r.mean_us),
        CsvOptional(r.calls_per_s), CsvOptional(r.mb_per_s),    CsvOptional(r.cpu_us_per_call),
        CsvOptional(r.offered_calls_per_s), absl::StrCat(r.errors),
        CsvField(absl::StrJoin(curve, " "))};
    absl::StrAppend(&out, absl::StrJoin(fields, ","), "\n");
  }
  return out;
}

std::string FormatTables(const BenchReport& report) {
  std::string out;
  const ModeView latency = View(report, "latency");
  if (!latency.transports.empty()) {
    absl::StrAppend(&out,
                    "latency: closed loop, one call in flight; round trip in us, p50 / p99\n",
                    LatencyTable(latency), "\n");
  }
  const ModeView throughput = View(report, "throughput");
  for (uint64_t size : throughput.sizes) {
    absl::StrAppend(&out, "throughput, ", FormatSize(size),
                    ": calls/s and CPU us per call (client + server); ratio rows compare "
                    "calls/s and CPU\n",
                    ThroughputTable(throughput, size), "\n");
  }
  const ModeView open_loop = View(report, "open_loop");
  if (!open_loop.transports.empty()) {
    std::string rate;
    if (report.setup.open_loop_rate > 0) {
      rate = absl::StrCat(Rate(report.setup.open_loop_rate), " calls/s");
    } else {
      std::vector<std::string> per_size;
      for (uint64_t size : open_loop.sizes) {
        for (const Result& r : report.results) {
          if (r.mode == "open_loop" && r.size == size && r.offered_calls_per_s.has_value()) {
            per_size.push_back(absl::StrCat(FormatSize(size), ": ", Rate(*r.offered_calls_per_s)));
            break;
          }
        }
      }
      rate = absl::StrCat(Number(report.setup.open_loop_load * 100),
                          "% of the slowest row's closed-loop rate (",
                          absl::StrJoin(per_size, ", "), " calls/s)");
    }
    absl::StrAppend(&out, "open loop at ", rate,
                    ": latency from the intended send time in us, p50 / p99\n",
                    LatencyTable(open_loop), "\n");
  }
  if (!out.empty()) {
    out +=
        "ferry/raw: Ferry's cost over the bare mechanism (p50 or calls/s; target <= 1.25x). "
        "grpc/ferry: Ferry's speed-up against gRPC on the same transport.\n";
    bool rawpb = false;
    for (const Result& r : report.results) rawpb = rawpb || r.impl == "rawpb";
    if (rawpb) {
      out +=
          "ferry/rawpb: Ferry's cost over the bare mechanism carrying the same protobuf work "
          "(roughly what the RPC layer adds beyond marshalling; below 1x where Ferry's "
          "in-place serialization saves rawpb's copies).\n";
    }
  }
  return out;
}

std::string FormatSize(uint64_t bytes) {
  if (bytes >= (uint64_t{1} << 20) && bytes % (uint64_t{1} << 20) == 0) {
    return absl::StrCat(bytes >> 20, " MiB");
  }
  if (bytes >= 1024 && bytes % 1024 == 0) return absl::StrCat(bytes >> 10, " KiB");
  return absl::StrCat(bytes, " B");
}

absl::Status WriteFile(const std::string& path, absl::string_view contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return ErrnoStatus(absl::StrCat("open(", path, ")"), errno);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  out.close();
  if (!out) return absl::DataLossError(absl::StrCat("error writing ", path));
  return absl::OkStatus();
}

}  // namespace ferry::bench
