#include "bench/progress.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <utility>

#include "absl/strings/str_format.h"

namespace ferry::bench {

Progress::Progress(bool enabled) : enabled_(enabled) {
  if (enabled_) thread_ = std::thread([this] { Loop(); });
}

Progress::~Progress() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    ClearLocked();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Progress::StderrIsTerminal() { return ::isatty(STDERR_FILENO) == 1; }

void Progress::Begin(std::string label) {
  std::lock_guard<std::mutex> lock(mu_);
  label_ = std::move(label);
  fraction_.store(0, std::memory_order_relaxed);
  active_ = true;
  if (enabled_) DrawLocked();
}

void Progress::End() {
  std::lock_guard<std::mutex> lock(mu_);
  active_ = false;
}

void Progress::Note(const std::string& message) {
  std::lock_guard<std::mutex> lock(mu_);
  ClearLocked();
  std::fprintf(stderr, "%s\n", message.c_str());
  if (enabled_ && active_) DrawLocked();
}

void Progress::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(100));
    if (!stop_ && active_) DrawLocked();
  }
}

void Progress::DrawLocked() {
  const double f = fraction_.load(std::memory_order_relaxed);
  const std::string line = absl::StrFormat("%s  %3.0f%%", label_, 100 * f);
  // Pad over what was there: "\033[K" would do, but not every terminal emulator in CI
  // logs understands it.
  std::fprintf(stderr, "\r%-*s", static_cast<int>(drawn_width_), line.c_str());
  std::fflush(stderr);
  drawn_width_ = std::max(drawn_width_, line.size());
}

void Progress::ClearLocked() {
  if (!enabled_ || drawn_width_ == 0) return;
  std::fprintf(stderr, "\r%*s\r", static_cast<int>(drawn_width_), "");
  std::fflush(stderr);
  drawn_width_ = 0;
}

}  // namespace ferry::bench
