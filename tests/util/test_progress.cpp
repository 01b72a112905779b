// Progress off a terminal: plain lines (step, rate, ETA) at the set interval and a last line, nothing for
// work shorter than the interval, nothing at all when disabled.
#include <gtest/gtest.h>

#include "afa/util/progress.h"

namespace afa::test {
namespace {

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

TEST(Progress, PlainLinesOffATerminal) {
  ProgressBar::set_plain_interval(0);
  testing::internal::CaptureStderr();  // stderr is then a file, not a terminal
  {
    ProgressBar bar("sampling", 4);
    EXPECT_FALSE(bar.enabled());  // no redrawing in place
    for (int i = 1; i <= 3; ++i) bar.update(i, "loss 0.5");
    bar.finish();
  }
  std::string out = testing::internal::GetCapturedStderr();
  EXPECT_NE(out.find("sampling: 1/4, "), std::string::npos) << out;
  EXPECT_NE(out.find("ETA "), std::string::npos) << out;
  EXPECT_NE(out.find(", loss 0.5\n"), std::string::npos) << out;
  EXPECT_NE(out.find("sampling: 4/4 done in "), std::string::npos) << out;
  EXPECT_EQ(count(out, "\n"), 4u) << out;
  EXPECT_EQ(out.find('\r'), std::string::npos) << out;  // no terminal control in logs

  // Short work (under the interval) and disabled bars write nothing.
  ProgressBar::set_plain_interval(3600);
  testing::internal::CaptureStderr();
  {
    ProgressBar quick("loading", 2);
    quick.update(1);
    quick.update(2);
    quick.finish();
    ProgressBar off("x", 2, false);
    off.update(1);
    off.finish();
  }
  out = testing::internal::GetCapturedStderr();
  EXPECT_EQ(out, "");
  ProgressBar::set_plain_interval(5);
}

}  // namespace
}  // namespace afa::test
