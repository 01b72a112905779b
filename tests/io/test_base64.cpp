// Base64 as RFC 4648's test vectors, and a data URI of a file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "afa/io/base64.h"
#include "test_util.h"

using namespace afa;

TEST(Base64, Rfc4648Vectors) {
  const std::pair<std::string, std::string> v[] = {{"", ""},         {"f", "Zg=="},     {"fo", "Zm8="},
                                                   {"foo", "Zm9v"},  {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                                                   {"foobar", "Zm9vYmFy"}};
  for (const auto& [in, out] : v) EXPECT_EQ(io::base64_encode(in), out) << in;
  EXPECT_EQ(io::base64_encode(std::string("\xff\xfe\x00", 3)), "//4A");
  for (const auto& [in, out] : v) EXPECT_EQ(io::base64_decode(out), in) << out;
  EXPECT_EQ(io::base64_decode("//4A"), std::string("\xff\xfe\x00", 3));
}

TEST(Base64, DecodeRefusesWhatIsNotBase64) {
  for (const char* bad : {"Zg=", "Zm9v!A==", "Zg==Zg==", "=Zg=", "Z==="})
    EXPECT_THROW(io::base64_decode(bad), Error) << bad;
}

TEST(Base64, DataUriOfAFileAndAMissingOneNamed) {
  test::TempDir dir("base64");
  const std::string f = (dir.path / "x.bin").string();
  std::ofstream(f, std::ios::binary) << "foobar";
  EXPECT_EQ(io::data_uri(f, "image/png"), "data:image/png;base64,Zm9vYmFy");
  EXPECT_NE(test::error_of([&] { io::data_uri(f + ".missing", "image/png"); }).find("x.bin.missing"), std::string::npos);
}
