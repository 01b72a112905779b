#include "afa/ensemble/attention_maps.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "afa/io/image.h"
#include "afa/util/error.h"

namespace afa::ensemble {

namespace {

// Control points of a viridis-like scale: dark blue (weight 0) to yellow (weight 1).
const float kScale[5][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};

}  // namespace

torch::Tensor heat_map(const torch::Tensor& map, int64_t size_h, int64_t size_w) {
  AFA_INTERNAL_ASSERT(map.dim() == 2, "heat_map needs [h, w], got ", map.sizes());
  auto m = map.to(torch::kCPU, torch::kFloat32).clamp(0, 1).unsqueeze(0).unsqueeze(0);
  m = torch::nn::functional::interpolate(
          m, torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{size_h, size_w}).mode(torch::kNearest))
          .squeeze();
  auto pos = m * 4.0f;
  auto lo = pos.floor().clamp(0, 3).to(torch::kLong);
  auto frac = (pos - lo.to(torch::kFloat32)).unsqueeze(-1);
  auto table = torch::from_blob(const_cast<float*>(&kScale[0][0]), {5, 3}, torch::kFloat32).clone();
  auto a = table.index({lo}), b = table.index({lo + 1});
  return (a + (b - a) * frac).round().clamp(0, 255).to(torch::kUInt8).contiguous();
}

void write_attention_maps(const std::string& dir, int64_t step, const std::vector<int64_t>& stages,
                          const std::vector<torch::Tensor>& maps, int64_t cell) {
  AFA_INTERNAL_ASSERT(stages.size() == maps.size() && !maps.empty(), "one map per stage");
  std::filesystem::create_directories(dir);
  const int64_t n = maps[0].size(0);
  const int64_t gap = 4;
  auto grid = torch::full({int64_t(maps.size()) * (cell + gap), n * (cell + gap), 3}, 255, torch::kUInt8);
  char name[96];
  for (size_t i = 0; i < maps.size(); ++i) {
    for (int64_t m = 0; m < n; ++m) {
      auto img = heat_map(maps[i][m], cell, cell);
      std::snprintf(name, sizeof name, "step%02lld_block%02lld_model%lld.png", (long long)step,
                    (long long)stages[i], (long long)m);
      io::write_png((std::filesystem::path(dir) / name).string(), img,
                    {{"Description", "AFA attention map: weight of model " + std::to_string(m) + " at block " +
                                         std::to_string(stages[i]) + ", step " + std::to_string(step)}});
      using torch::indexing::Slice;
      grid.index_put_({Slice(int64_t(i) * (cell + gap), int64_t(i) * (cell + gap) + cell),
                       Slice(m * (cell + gap), m * (cell + gap) + cell)},
                      img);
    }
  }
  std::snprintf(name, sizeof name, "step%02lld_grid.png", (long long)step);
  io::write_png((std::filesystem::path(dir) / name).string(), grid,
                {{"Description", "rows: aggregation points; columns: models"}});
}

pipeline::StepCallback attention_map_writer(const pipeline::Denoiser& denoiser, AttentionMapRequest r) {
  return [&denoiser, r](int64_t step, int64_t total, const torch::Tensor&) {
    bool wanted = r.steps.empty() && (step == 0 || step == total - 1);
    for (int64_t s : r.steps) wanted = wanted || s == step || (s < 0 && total + s == step);
    if (!wanted) return;
    const auto& last = denoiser.attention_maps();
    std::vector<int64_t> stages;
    std::vector<torch::Tensor> maps;
    for (size_t i = 0; i < last.maps.size(); ++i) {
      const int64_t k = last.stages[i];
      if (!r.blocks.empty() && std::find(r.blocks.begin(), r.blocks.end(), k) == r.blocks.end()) continue;
      stages.push_back(k);
      maps.push_back(last.maps[i][r.row]);
    }
    if (!maps.empty()) write_attention_maps(r.dir, step, stages, maps);
  };
}

}  // namespace afa::ensemble
