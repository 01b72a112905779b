#include "afa/train/training_checkpoint.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "afa/io/safetensors.h"
#include "afa/util/error.h"
#include "afa/util/json_file.h"

namespace afa::train {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "afa-training-state";
constexpr int kVersion = 1;

void write_text_file(const fs::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  AFA_CHECK(f, path.string(), ": cannot write");
  f << text;
  f.flush();
  AFA_CHECK(f, path.string(), ": write failed");
}

}  // namespace

void save_training_checkpoint(const std::string& dir, const std::function<void(const std::string&)>& write_weights,
                              const TrainingState& state, const std::vector<std::string>& carry) {
  const fs::path dst = fs::path(dir).lexically_normal();
  const std::string suffix = "." + std::to_string(::getpid());
  const fs::path tmp = dst.string() + ".saving" + suffix;
  const fs::path old = dst.string() + ".old" + suffix;
  fs::remove_all(tmp);
  write_weights(tmp.string());
  AFA_CHECK(fs::is_directory(tmp), tmp.string(), ": the weights were not written");

  nlohmann::json j = {{"format", kFormat},
                      {"version", kVersion},
                      {"step", state.step},
                      {"epoch", state.epoch},
                      {"step_in_epoch", state.step_in_epoch},
                      {"skipped_images", state.skipped_samples.size()},
                      {"skipped_samples", state.skipped_samples},
                      {"settings", state.settings},
                      {"loss_scale", state.loss_scale},
                      {"loss_scale_clean_steps", state.loss_scale_clean_steps}};
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  tensors.emplace_back("data_order", torch::tensor(state.data_order, torch::kLong));
  for (const auto& [name, t] : state.optimizer) tensors.emplace_back("optimizer." + name, t);
  io::save_safetensors((tmp / kStateTensors).string(), tensors, {{"afa_format", kFormat}});
  // The JSON last: a folder with it has everything.
  write_text_file(tmp / kStateJson, j.dump(1) + "\n");

  // What the run keeps beside the checkpoint moves into the new folder, then the folders swap.
  if (fs::exists(dst)) {
    for (const auto& name : carry) {
      const fs::path from = dst / name;
      if (fs::exists(from) && !fs::exists(tmp / name)) fs::rename(from, tmp / name);
    }
    fs::remove_all(old);
    fs::rename(dst, old);
  } else if (dst.has_parent_path()) {
    fs::create_directories(dst.parent_path());
  }
  fs::rename(tmp, dst);
  fs::remove_all(old);
}

bool has_training_state(const std::string& dir) { return fs::exists(fs::path(dir) / kStateJson); }

TrainingState load_training_state(const std::string& dir) {
  const std::string jpath = (fs::path(dir) / kStateJson).string();
  const std::string tpath = (fs::path(dir) / kStateTensors).string();
  AFA_CHECK(fs::is_directory(dir), dir, ": no such checkpoint folder (--resume)");
  AFA_CHECK(fs::exists(jpath), dir, ": not a training checkpoint (", kStateJson,
            " is missing; a folder of aggregators alone cannot be resumed)");
  nlohmann::json j = read_json_file(jpath, "training state");
  TrainingState s;
  try {
    AFA_CHECK(j.value("format", "") == kFormat, jpath, ": not an afa training state (format '",
              j.value("format", ""), "')");
    AFA_CHECK(j.value("version", 0) == kVersion, jpath, ": training state version ", j.value("version", 0),
              " is not supported (this afa writes ", kVersion, ")");
    s.step = j.at("step").get<int64_t>();
    s.epoch = j.at("epoch").get<int64_t>();
    s.step_in_epoch = j.at("step_in_epoch").get<int64_t>();
    s.skipped_samples = j.value("skipped_samples", std::vector<int64_t>{});
    s.settings = j.at("settings");
    s.loss_scale = j.value("loss_scale", 0.0);
    s.loss_scale_clean_steps = j.value("loss_scale_clean_steps", int64_t(0));
  } catch (const nlohmann::json::exception& e) {
    fail(jpath, ": ", e.what());
  }
  AFA_CHECK(s.step >= 0 && s.epoch >= 0 && s.step_in_epoch >= 0, jpath, ": negative counters");
  AFA_CHECK(fs::exists(tpath), dir, ": ", kStateTensors, " is missing");
  io::SafeTensorsFile f(tpath);
  AFA_CHECK(f.contains("data_order"), tpath, ": no tensor 'data_order'");
  for (const auto& name : f.names()) {
    if (name == "data_order") {
      auto order = f.get(name).to(torch::kLong).contiguous();
      AFA_CHECK(order.dim() == 1, tpath, ": data_order must be 1-d");
      s.data_order.assign(order.data_ptr<int64_t>(), order.data_ptr<int64_t>() + order.numel());
    } else if (name.rfind("optimizer.", 0) == 0) {
      s.optimizer[name.substr(10)] = f.get(name).clone();
    } else {
      fail(tpath, ": unexpected tensor '", name, "'");
    }
  }
  return s;
}

}  // namespace afa::train
