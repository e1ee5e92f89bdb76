// A one-line progress display on stderr: which point is being measured and how far it is.
//
// Overview: the driver names each point with Begin(); the measuring loop reports its
// fraction done with Set() (a relaxed atomic store, cheap enough for every call). A
// background thread redraws the line ten times a second with "\r", and End() clears it.
// When stderr is not a terminal (or the display is disabled) nothing is printed and no
// thread runs.
//
// Threading: Begin/End/Note from the driver's thread; Set from any thread.
#ifndef FERRY_BENCH_PROGRESS_H_
#define FERRY_BENCH_PROGRESS_H_

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace ferry::bench {

class Progress {
 public:
  // `enabled` false: silent. Use Progress(StderrIsTerminal()) for the usual behaviour.
  explicit Progress(bool enabled);
  ~Progress();  // clears the line, stops the thread
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  static bool StderrIsTerminal();

  // Starts a point; the line shows "<label>  <percent>".
  void Begin(std::string label);
  // Fraction of the current point done, in [0, 1].
  void Set(double fraction) { fraction_.store(fraction, std::memory_order_relaxed); }
  // Ends the point.
  void End();
  // Prints `message` on its own line (clearing the progress line first), whether or not
  // the display is enabled.
  void Note(const std::string& message);

 private:
  void Loop();
  void DrawLocked();
  void ClearLocked();

  const bool enabled_;
  std::atomic<double> fraction_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::string label_;  // guarded by mu_
  bool active_ = false;
  bool stop_ = false;
  size_t drawn_width_ = 0;
  std::thread thread_;
};

}  // namespace ferry::bench

#endif  // FERRY_BENCH_PROGRESS_H_
