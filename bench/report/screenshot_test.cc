// Renders a fixture report, opens it in headless Chromium and fails if the charts do not
// render: once through --dump-dom with a measuring script (every chart must lay out and
// every data mark must have a size inside its chart), once through --screenshot, whose PNG
// must show coloured marks inside every chart's box.
//
// Needs /usr/bin/chromium (tools/setup.sh installs it). Leaves report.html, measure.txt and
// report.png in the test's undeclared outputs for a human to look at.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/report/fixtures.h"
#include "bench/report/png.h"
#include "bench/report_html.h"
#include "gtest/gtest.h"

extern char** environ;

namespace ferry::bench::report {
namespace {

constexpr char kChromium[] = "/usr/bin/chromium";
constexpr int kWidth = 1400;

std::string TempRoot() {
  const char* t = std::getenv("TEST_TMPDIR");
  return t != nullptr ? t : "/tmp";
}

std::string OutputsDir() {
  const char* d = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  return d != nullptr ? d : TempRoot();
}

std::string MakeTempDir(const std::string& name) {
  std::string pattern = absl::StrCat(TempRoot(), "/", name, "-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) return "";
  return pattern;
}

bool WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  out << data;
  return static_cast<bool>(out);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct RunResult {
  bool started = false;
  bool timed_out = false;
  int exit_code = -1;
  std::string out, err;
};

// Runs Chromium headless with a fresh profile, HOME and XDG directories under the test's
// temp dir (Chromium writes to all of them; the sandboxed test has no usable HOME).
RunResult RunChromium(std::vector<std::string> args, const std::string& url) {
  RunResult result;
  std::string home = MakeTempDir("chromium-home");
  std::string profile = MakeTempDir("chromium-profile");
  if (home.empty() || profile.empty()) return result;

  std::vector<std::string> argv = {
      kChromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
      "--no-first-run", "--disable-background-networking", "--disable-component-update",
      "--disable-sync", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
      "--force-device-scale-factor=1", absl::StrCat("--user-data-dir=", profile)};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back(url);

  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    absl::string_view kv(*e);
    if (absl::StartsWith(kv, "HOME=") || absl::StartsWith(kv, "XDG_")) continue;
    env.emplace_back(kv);
  }
  env.push_back("HOME=" + home);
  env.push_back("XDG_CONFIG_HOME=" + home + "/config");
  env.push_back("XDG_CACHE_HOME=" + home + "/cache");
  env.push_back("XDG_DATA_HOME=" + home + "/data");
  env.push_back("XDG_RUNTIME_DIR=" + home);  // mkdtemp made it 0700, as XDG requires

  std::vector<char*> cargv, cenv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  for (std::string& e : env) cenv.push_back(e.data());
  cenv.push_back(nullptr);

  std::string out_path = home + "/stdout", err_path = home + "/stderr";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group, so a hung browser and all its helpers can be killed together.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, kChromium, &actions, &attr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return result;
  result.started = true;

  absl::Time deadline = absl::Now() + absl::Seconds(90);
  int status = 0;
  while (true) {
    pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (absl::Now() > deadline) {
      result.timed_out = true;
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  kill(-pid, SIGKILL);  // helpers that outlived the browser process
  if (!result.timed_out && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  return result;
}

std::string Tail(const std::string& s, size_t n = 1500) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

std::string Describe(const RunResult& r) {
  if (!r.started) return "chromium did not start";
  return absl::StrCat(r.timed_out ? "timed out after 90 s" : absl::StrCat("exit code ", r.exit_code),
                      "; stderr:\n", Tail(r.err));
}

// Runs in the page after layout and writes what it measured into the DOM, where
// --dump-dom can read it: the page size, then one line per chart SVG with its box on the
// page, the box of what it draws, and how many of its data marks have a size (and lie
// inside its viewBox).
constexpr char kMeasureScript[] = R"js(<script>
(function () {
  var lines = [];
  var de = document.documentElement;
  lines.push('page ' + Math.ceil(de.scrollWidth) + ' ' +
             Math.ceil(Math.max(de.scrollHeight, document.body.scrollHeight)));
  var svgs = document.querySelectorAll('svg.chart-svg');
  for (var i = 0; i < svgs.length; i++) {
    var s = svgs[i], r = s.getBoundingClientRect(), b = s.getBBox(), vb = s.viewBox.baseVal;
    var marks = s.querySelectorAll('.mark'), drawn = 0, inside = 0;
    for (var j = 0; j < marks.length; j++) {
      var m = marks[j].getBBox();
      if (m.width > 0 || m.height > 0) {
        drawn++;
        if (m.x + m.width >= vb.x && m.x <= vb.x + vb.width &&
            m.y + m.height >= vb.y && m.y <= vb.y + vb.height) inside++;
      }
    }
    lines.push(['chart', s.id, s.getAttribute('data-chart'),
                Math.round(r.left + window.scrollX), Math.round(r.top + window.scrollY),
                Math.round(r.width), Math.round(r.height), Math.round(b.width),
                Math.round(b.height), marks.length, drawn, inside,
                s.querySelectorAll('.series').length].join(' '));
  }
  var pre = document.createElement('pre');
  pre.id = 'ferry-measure';
  pre.textContent = lines.join('\n');
  document.body.appendChild(pre);
})();
</script>)js";

struct ChartBox {
  std::string id, kind;
  int x = 0, y = 0, w = 0, h = 0, bbox_w = 0, bbox_h = 0;
  int marks = 0, drawn = 0, inside = 0, series = 0;
};

struct Measurement {
  bool found = false;
  int page_w = 0, page_h = 0;
  std::vector<ChartBox> charts;
};

Measurement ParseMeasurement(const std::string& dom) {
  Measurement m;
  size_t start = dom.find("<pre id=\"ferry-measure\">");
  if (start == std::string::npos) return m;
  start = dom.find('>', start) + 1;
  size_t end = dom.find("</pre>", start);
  m.found = true;
  for (absl::string_view line : absl::StrSplit(dom.substr(start, end - start), '\n')) {
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() == 3 && f[0] == "page") {
      m.page_w = std::atoi(f[1].c_str());
      m.page_h = std::atoi(f[2].c_str());
    } else if (f.size() == 13 && f[0] == "chart") {
      ChartBox c;
      c.id = f[1];
      c.kind = f[2];
      int* ints[] = {&c.x, &c.y, &c.w, &c.h, &c.bbox_w, &c.bbox_h,
                     &c.marks, &c.drawn, &c.inside, &c.series};
      for (int i = 0; i < 10; ++i) *ints[i] = std::atoi(f[3 + i].c_str());
      m.charts.push_back(c);
    }
  }
  return m;
}

int CountOf(const std::string& haystack, const std::string& needle) {
  int n = 0;
  for (size_t p = haystack.find(needle); p != std::string::npos;
       p = haystack.find(needle, p + 1)) {
    ++n;
  }
  return n;
}

class ScreenshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kChromium, X_OK) != 0) {
      GTEST_FAIL() << kChromium << " is missing: run tools/setup.sh to install the Debian "
                   << "package chromium (the report's screenshot test needs it).";
    }
  }
};

TEST_F(ScreenshotTest, ChartsRenderInHeadlessChromium) {
  std::string html = RenderHtmlReport(fixtures::FullReport());
  std::string dir = MakeTempDir("report");
  ASSERT_FALSE(dir.empty());
  std::string page = dir + "/report.html", measure_page = dir + "/measure.html";
  ASSERT_TRUE(WriteFile(page, html));
  WriteFile(OutputsDir() + "/report.html", html);
  std::string measured_html = html;
  size_t body_end = measured_html.rfind("</body>");
  ASSERT_NE(body_end, std::string::npos);
  measured_html.insert(body_end, kMeasureScript);
  ASSERT_TRUE(WriteFile(measure_page, measured_html));

  // 1. The DOM: every chart lays out and draws every data mark.
  RunResult dom = RunChromium({"--dump-dom", absl::StrCat("--window-size=", kWidth, ",1000")},
                              "file://" + measure_page);
  ASSERT_TRUE(dom.started && !dom.timed_out && dom.exit_code == 0)
      << "chromium --dump-dom failed: " << Describe(dom);
  Measurement m = ParseMeasurement(dom.out);
  ASSERT_TRUE(m.found) << "the measuring script did not run: no <pre id=\"ferry-measure\"> "
                       << "in the dumped DOM. stdout:\n" << Tail(dom.out) << "\nstderr:\n"
                       << Tail(dom.err);
  std::vector<std::string> lines;
  for (const ChartBox& c : m.charts) {
    lines.push_back(absl::StrCat(c.id, " ", c.kind, " at ", c.x, ",", c.y, " ", c.w, "x", c.h,
                                 " marks ", c.drawn, "/", c.marks, " series ", c.series));
  }
  WriteFile(OutputsDir() + "/measure.txt", absl::StrJoin(lines, "\n"));

  int expected = CountOf(html, "<svg class=\"chart-svg\"");
  ASSERT_GT(expected, 0);
  ASSERT_EQ(static_cast<int>(m.charts.size()), expected)
      << "the browser found " << m.charts.size() << " chart SVGs, the page has " << expected
      << ": some did not parse";
  for (const ChartBox& c : m.charts) {
    EXPECT_TRUE(c.w > 100 && c.h > 100)
        << "chart " << c.id << " (" << c.kind << ") did not lay out: its box is " << c.w << "x"
        << c.h;
    EXPECT_TRUE(c.bbox_w > 0 && c.bbox_h > 0) << "chart " << c.id << " draws nothing";
    EXPECT_GT(c.marks, 0) << "chart " << c.id << " has no data marks";
    EXPECT_GT(c.series, 0) << "chart " << c.id << " has no series";
    EXPECT_EQ(c.drawn, c.marks) << "chart " << c.id << ": only " << c.drawn << " of "
                                << c.marks << " data marks have a size";
    EXPECT_EQ(c.inside, c.drawn) << "chart " << c.id << ": " << (c.drawn - c.inside)
                                 << " data marks lie outside the chart";
  }
  ASSERT_GT(m.page_h, 0);

  // 2. The pixels: a screenshot tall enough for the whole page, with coloured marks in
  // every chart's box.
  int height = std::min(m.page_h + 20, 16000);
  std::string png_path = dir + "/report.png";
  RunResult shot = RunChromium({absl::StrCat("--screenshot=", png_path),
                                absl::StrCat("--window-size=", kWidth, ",", height)},
                               "file://" + page);
  ASSERT_TRUE(shot.started && !shot.timed_out && shot.exit_code == 0)
      << "chromium --screenshot failed: " << Describe(shot);
  std::string png = ReadFile(png_path);
  ASSERT_FALSE(png.empty()) << "chromium wrote no screenshot to " << png_path << "; stderr:\n"
                            << Tail(shot.err);
  WriteFile(OutputsDir() + "/report.png", png);
  absl::StatusOr<Image> image = DecodePng(png);
  ASSERT_TRUE(image.ok()) << "cannot decode the screenshot: " << image.status();
  ASSERT_EQ(image->width, kWidth);

  for (const ChartBox& c : m.charts) {
    int x0 = std::max(c.x, 0), y0 = std::max(c.y, 0);
    int x1 = std::min(c.x + c.w, image->width), y1 = std::min(c.y + c.h, image->height);
    if (x1 <= x0 || y1 <= y0) {
      ADD_FAILURE() << "chart " << c.id << " at y=" << c.y << " is outside the "
                    << image->width << "x" << image->height << " screenshot";
      continue;
    }
    long area = static_cast<long>(x1 - x0) * (y1 - y0), inked = 0, coloured = 0;
    for (int y = y0; y < y1; ++y) {
      for (int x = x0; x < x1; ++x) {
        const uint8_t* p = image->At(x, y);
        int hi = std::max({p[0], p[1], p[2]}), lo = std::min({p[0], p[1], p[2]});
        if (765 - p[0] - p[1] - p[2] > 60) ++inked;
        // Axes, grid and text are grey; only the data marks carry palette colours.
        if (hi - lo > 60) ++coloured;
      }
    }
    EXPECT_GE(inked, area / 100) << "chart " << c.id << " (" << c.kind << ") is blank in the "
                                 << "screenshot: " << inked << " of " << area
                                 << " pixels differ from the background";
    EXPECT_GE(coloured, std::max(150L, area / 500))
        << "chart " << c.id << " (" << c.kind << "): its data marks did not render, only "
        << coloured << " coloured pixels in its " << (x1 - x0) << "x" << (y1 - y0)
        << " box at " << x0 << "," << y0;
  }
}

}  // namespace
}  // namespace ferry::bench::report
