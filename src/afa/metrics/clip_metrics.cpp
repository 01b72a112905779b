#include "afa/metrics/clip_metrics.h"

#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "afa/metrics/image_folder.h"
#include "afa/util/error.h"

namespace fs = std::filesystem;

namespace afa::metrics {

ClipConfig clip_config_for(const std::string& safetensors_path, const ClipConfig& preset) {
  const std::string json = (fs::path(safetensors_path).replace_extension(".json")).string();
  std::error_code ec;
  return fs::is_regular_file(json, ec) ? ClipConfig::from_file(json) : preset;
}

std::vector<std::string> read_prompts_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  AFA_CHECK(f, "--prompts ", path, ": cannot read the file");
  std::vector<std::string> out;
  std::string line;
  while (std::getline(f, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(line);
  }
  AFA_CHECK(!out.empty(), "--prompts ", path, ": the file is empty (expected one prompt per line)");
  return out;
}

torch::Tensor clip_image_features(ClipModel& model, ClipPreprocess path, const std::vector<std::string>& files,
                                  int64_t batch_size, const torch::Device& device,
                                  const std::function<void(int64_t)>& progress) {
  torch::NoGradGuard no_grad;
  const int64_t size = model->config().vision.image_size;
  std::vector<torch::Tensor> feats;
  int64_t done = 0;
  for_each_image_batch(files, batch_size, [&](const torch::Tensor& batch_u8) {
    const auto x = clip_preprocess_batch(batch_u8, path, size).to(device);
    feats.push_back(model->image_features(x).to(torch::kCPU, torch::kFloat32));
    done += batch_u8.size(0);
    if (progress) progress(done);
  });
  return torch::cat(feats);
}

torch::Tensor clip_text_features(ClipModel& model, const text::ClipTokenizer& tokenizer,
                                 const std::vector<std::string>& prompts, int64_t batch_size,
                                 const torch::Device& device) {
  torch::NoGradGuard no_grad;
  AFA_CHECK(batch_size >= 1, "batch size must be at least 1, got ", batch_size);
  std::vector<torch::Tensor> feats;
  for (size_t i = 0; i < prompts.size(); i += size_t(batch_size)) {
    const std::vector<std::string> chunk(prompts.begin() + i,
                                         prompts.begin() + std::min(prompts.size(), i + size_t(batch_size)));
    feats.push_back(model->text_features(tokenizer.encode_batch(chunk).to(device)).to(torch::kCPU, torch::kFloat32));
  }
  return torch::cat(feats);
}

}  // namespace afa::metrics
