// End-to-end: `afa analyze` writes its JSON (fractions summing to 1 per patch) and figures; a model
// compared with itself only ties.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "afa/io/image.h"
#include "cli.h"
#include "golden.h"

namespace afa::test {
namespace {

namespace fs = std::filesystem;

TEST(CliAnalyze, AModelAgainstItselfOnlyTiesAndEveryFigureIsWritten) {
  const auto dir = temp_dir("analyze");
  const std::string image = (dir / "in.png").string(), out = (dir / "out").string();
  io::write_png(image, torch::randint(0, 256, {64, 64, 3}, at::detail::createCPUGenerator(5)).to(torch::kUInt8));
  const std::string a = quote(golden("pipelines/A"));
  auto r = run_afa("analyze -m " + a + " -m " + a + " --image " + quote(image) + " -p 'a red circle' -o " + quote(out) +
                   " --samples 2 --timesteps 200,800 --threads 1");
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream f(fs::path(out) / "analysis.json");
  const auto j = nlohmann::json::parse(f);
  ASSERT_EQ(j["per_timestep"].size(), 2u);
  EXPECT_EQ(j["patch_grid"]["rows"], 4);
  for (const auto& t : j["per_timestep"]) {
    for (const auto& row : t["patches"])
      for (const auto& cell : row) {
        double sum = 0;
        for (const auto& [k, v] : cell.items()) sum += v.get<double>();
        EXPECT_NEAR(sum, 1.0, 1e-12);
        EXPECT_EQ(cell["ties"].get<double>(), 1.0);
      }
    EXPECT_EQ(t["image_wins"]["ties"].get<double>(), 1.0);
  }
  for (const char* file : {"winners_t200.png", "winners_t800.svg", "patch_bars.svg", "win_fraction.svg"})
    EXPECT_TRUE(fs::exists(fs::path(out) / file)) << file;
  r = run_afa("analyze -m " + a + " --image " + quote(image) + " -p x -o " + quote(out) + " --patch 3");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--patch"), std::string::npos) << r.out;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace afa::test
