// A progress bar for long work (loading, sampling, training): step, rate, ETA and extra fields,
// redrawn in place on a terminal; on a pipe or file it stays quiet except for a final summary line.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace afa {

class ProgressBar {
 public:
  // `total` steps of `label`; draws only when enabled (by default: when stderr is a terminal).
  ProgressBar(std::string label, int64_t total, bool enabled = stderr_is_terminal());
  static bool stderr_is_terminal();
  ~ProgressBar();
  // Marks `done` steps complete; `extra` is shown after the rate (e.g. "loss 0.123").
  void update(int64_t done, const std::string& extra = "");
  void finish(const std::string& extra = "");
  bool enabled() const { return enabled_; }
  double elapsed_seconds() const;

 private:
  std::string label_;
  int64_t total_;
  int64_t done_ = 0;
  bool enabled_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// Formats seconds as "1h02m", "3m05s" or "12.3s".
std::string format_duration(double seconds);

}  // namespace afa
