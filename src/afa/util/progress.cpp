#include "afa/util/progress.h"

#include <unistd.h>

#include <cstdio>

namespace afa {

std::string format_duration(double s) {
  char buf[32];
  if (s < 0) s = 0;
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%dh%02dm", int(s / 3600), int(s / 60) % 60);
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%dm%02ds", int(s / 60), int(s) % 60);
  else
    std::snprintf(buf, sizeof buf, "%.1fs", s);
  return buf;
}

bool ProgressBar::stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

namespace {
double g_plain_interval = 5.0;

std::string rate_of(double elapsed, int64_t done) {
  if (done <= 0) return "";
  char rate[48];
  const double per = elapsed / double(done);
  if (per >= 1)
    std::snprintf(rate, sizeof rate, "%.2f s/it", per);
  else
    std::snprintf(rate, sizeof rate, "%.2f it/s", 1 / per);
  return rate;
}
}  // namespace

void ProgressBar::set_plain_interval(double seconds) { g_plain_interval = seconds; }

ProgressBar::ProgressBar(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled), terminal_(stderr_is_terminal()),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {
  if (enabled_ && terminal_) update(0);
}

ProgressBar::~ProgressBar() {
  if (!finished_ && enabled_ && terminal_ && done_ > 0) std::fputc('\n', stderr);
}

double ProgressBar::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressBar::update(int64_t done, const std::string& extra) {
  done_ = done;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (!terminal_) {
    // A plain line every few seconds: step, rate, ETA.
    if (done <= 0 || std::chrono::duration<double>(now - last_draw_).count() < g_plain_interval) return;
    last_draw_ = now;
    printed_plain_ = true;
    const double el = elapsed_seconds();
    std::string eta = done < total_ ? ", ETA " + format_duration(el / double(done) * double(total_ - done)) : "";
    std::fprintf(stderr, "%s: %lld/%lld, %s, %s%s%s\n", label_.c_str(), (long long)done, (long long)total_,
                 format_duration(el).c_str(), rate_of(el, done).c_str(), eta.c_str(),
                 extra.empty() ? "" : (", " + extra).c_str());
    std::fflush(stderr);
    return;
  }
  // Redraw at most 10 times a second, but always on the last step.
  if (done > 0 && done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double el = elapsed_seconds();
  const int width = 24;
  int filled = total_ > 0 ? int(width * done / total_) : 0;
  std::string bar(filled, '#');
  bar.resize(width, '.');
  const std::string rate = rate_of(el, done);
  std::string eta = done > 0 && done < total_ ? " ETA " + format_duration(el / done * (total_ - done)) : "";
  std::fprintf(stderr, "\r\033[K%s [%s] %lld/%lld %s %s%s%s", label_.c_str(), bar.c_str(), (long long)done,
               (long long)total_, format_duration(el).c_str(), rate.c_str(), eta.c_str(),
               extra.empty() ? "" : ("  " + extra).c_str());
  std::fflush(stderr);
}

void ProgressBar::finish(const std::string& extra) {
  if (finished_) return;
  finished_ = true;
  if (enabled_ && !terminal_) {
    // The last plain line, if the work was long enough to have any.
    if (printed_plain_) {
      const double el = elapsed_seconds();
      std::fprintf(stderr, "%s: %lld/%lld done in %s, %s%s\n", label_.c_str(), (long long)total_, (long long)total_,
                   format_duration(el).c_str(), rate_of(el, total_).c_str(), extra.empty() ? "" : (", " + extra).c_str());
    }
    return;
  }
  if (enabled_) {
    last_draw_ = {};
    done_ = total_;
    update(total_, extra);
    std::fputc('\n', stderr);
  }
}

}  // namespace afa
