// End-to-end: outputs are checked before any compute, never replace a device, FIFO or folder, write
// through symbolic links; --seed takes exactly 0 .. 2^64 - 1 or -1; the default size is the model's.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "afa/io/image.h"
#include "cli.h"
#include "golden.h"

namespace afa::test {
namespace {

namespace fs = std::filesystem;

std::string generate(const std::string& extra) {
  return "generate -m " + quote(golden("pipelines/A")) + " -p x --steps 1 -W 64 -H 64 --threads 1 " + extra;
}

TEST(CliOutputs, BadOutputLocationsFailBeforeSamplingAndNameTheUsersPath) {
  const auto dir = temp_dir("outputs");
  const std::string fifo = (dir / "fifo").string();
  fs::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  struct Case {
    std::string args, needle;
  } cases[] = {
      {"-o " + quote((dir / "nodir" / "x.png").string()), "nodir"},
      {"-o " + quote(dir.string()), "is a folder"},
      {"-o ''", "empty"},
      {"-o " + quote(fifo), "is a FIFO"},
      {"-o /dev/null", "is a character device"},
      {"-o " + quote((dir / "ok.png").string()) + " --latents-out " + quote((dir / "nodir" / "l.safetensors").string()),
       "--latents-out"},
  };
  for (const auto& c : cases) {
    auto r = run_afa(generate(c.args));
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.out;
    EXPECT_NE(r.out.find(c.needle), std::string::npos) << c.args << "\n" << r.out;
    EXPECT_EQ(r.out.find(".tmp."), std::string::npos) << r.out;  // no temp-file names in messages
  }
  EXPECT_FALSE(fs::exists(dir / "ok.png"));  // nothing was sampled for the bad --latents-out
  struct stat st;
  ASSERT_EQ(::stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_TRUE(fs::is_fifo(fifo));
  fs::remove_all(dir);
}

TEST(CliOutputs, ASymbolicLinkIsWrittenThroughAndKept) {
  const auto dir = temp_dir("outputs_link");
  const auto target = dir / "real.png", link = dir / "link.png";
  fs::remove(link);
  std::ofstream(target) << "old";
  fs::create_symlink("real.png", link);
  auto r = run_afa(generate("-o " + quote(link.string())));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(io::read_image(target.string()).size(0), 64);
  fs::remove_all(dir);
}

TEST(CliOutputs, SeedsAreExactlyUint64OrMinusOne) {
  const auto dir = temp_dir("seeds");
  for (const std::string bad : {"18446744073709551616", "-2", "1e3", "12x", "99999999999999999999999"}) {
    auto r = run_afa(generate("-o " + quote((dir / "x.png").string()) + " --seed " + bad));
    EXPECT_EQ(r.code, 2) << bad << "\n" << r.out;
    EXPECT_NE(r.out.find("--seed"), std::string::npos) << r.out;
  }
  // 2^63 and 2^64 - 1 are distinct seeds (no clamping): different images, each recorded in the PNG.
  const std::string a = (dir / "a.png").string(), b = (dir / "b.png").string();
  ASSERT_EQ(run_afa(generate("-o " + quote(a) + " --seed 9223372036854775808")).code, 0);
  ASSERT_EQ(run_afa(generate("-o " + quote(b) + " --seed 18446744073709551615")).code, 0);
  EXPECT_NE(io::read_png_text(a).at("parameters").find("Seed: 9223372036854775808"), std::string::npos);
  EXPECT_NE(io::read_png_text(b).at("parameters").find("Seed: 18446744073709551615"), std::string::npos);
  EXPECT_FALSE(torch::equal(io::read_image(a), io::read_image(b)));
  auto r = run_afa(generate("-o " + quote(a) + " --seed -1"));
  EXPECT_EQ(r.code, 0) << r.out;
  fs::remove_all(dir);
}

// Without -W/-H the image has the model's own size: sample_size 16 x the VAE's factor 8 (4 blocks) = 128,
// as diffusers' pipeline defaults to unet.config.sample_size * vae_scale_factor.
TEST(CliOutputs, DefaultSizeIsTheModelsOwn) {
  const auto dir = temp_dir("outputs_size");
  const auto png = (dir / "x.png").string();
  auto r = run_afa("generate -m " + quote(golden("pipelines/A")) + " -p x --steps 1 --threads 1 -q -o " + quote(png));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto img = io::read_image(png);
  EXPECT_EQ(img.size(0), 128);
  EXPECT_EQ(img.size(1), 128);
  EXPECT_EQ(r.out.find("sampling"), std::string::npos) << r.out;  // -q: no progress lines
  fs::remove_all(dir);
}

}  // namespace
}  // namespace afa::test
