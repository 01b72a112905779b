// A progress bar for long work (loading, sampling, training): step, rate, ETA and extra fields,
// redrawn in place on a terminal. On a pipe or file (logs, job schedulers) it writes a plain line every
// few seconds instead, so that long work shows life there too; work shorter than that writes nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstddef>
#include <deque>
#include <string>

namespace afa {

class ProgressBar {
 public:
  // `total` steps of `label`; shows nothing unless enabled (-q turns it off).
  ProgressBar(std::string label, int64_t total, bool enabled = true);
  static bool stderr_is_terminal();
  ~ProgressBar();
  // Marks `done` steps complete; `extra` is shown after the rate (e.g. "loss 0.123").
  void update(int64_t done, const std::string& extra = "");
  void finish(const std::string& extra = "");
  // Whether it redraws in place (stderr is a terminal); plain lines otherwise.
  bool enabled() const { return enabled_ && terminal_; }
  // Seconds between plain lines (default 5; tests use 0).
  static void set_plain_interval(double seconds);
  double elapsed_seconds() const;

 private:
  std::string label_;
  int64_t total_;
  int64_t done_ = 0;
  bool enabled_;
  bool terminal_;
  bool printed_plain_ = false;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// Formats seconds as "1h02m", "3m05s" or "12.3s".
std::string format_duration(double seconds);

// The mean of the last `window` values (a smoothed loss for progress lines).
class RunningMean {
 public:
  explicit RunningMean(size_t window) : window_(window) {}
  double add(double v) {
    values_.push_back(v);
    sum_ += v;
    if (values_.size() > window_) {
      sum_ -= values_.front();
      values_.pop_front();
    }
    return sum_ / double(values_.size());
  }

 private:
  size_t window_;
  std::deque<double> values_;
  double sum_ = 0;
};

}  // namespace afa
