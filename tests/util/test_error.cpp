// Bad input and bugs are told apart: afa::Error (exit 2) for the user's input, afa::InternalError
// (exit 1, "a bug in afa") for broken invariants.
#include <gtest/gtest.h>

#include "afa/util/error.h"

namespace afa {
namespace {

TEST(Error, CheckThrowsTheUsersMessage) {
  try {
    AFA_CHECK(1 + 1 == 3, "file ", "x.safetensors", ": ", 3, " is wrong");
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "file x.safetensors: 3 is wrong");
  }
  EXPECT_NO_THROW(AFA_CHECK(true, "never"));
}

TEST(Error, InternalAssertIsNotAnInputError) {
  try {
    AFA_INTERNAL_ASSERT(2 < 1, "stage ", 7);
    FAIL() << "no throw";
  } catch (const Error&) {
    FAIL() << "an internal assertion must not look like bad input";
  } catch (const InternalError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("test_error.cpp:"), std::string::npos) << what;
    EXPECT_NE(what.find("2 < 1 failed: stage 7"), std::string::npos) << what;
    EXPECT_NE(what.find("a bug in afa"), std::string::npos) << what;
  }
  EXPECT_THROW(AFA_INTERNAL_ASSERT(false), InternalError);
  EXPECT_NO_THROW(AFA_INTERNAL_ASSERT(true));
}

}  // namespace
}  // namespace afa
