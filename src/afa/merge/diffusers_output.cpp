#include "afa/merge/diffusers_output.h"

#include <unistd.h>

#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

#include "afa/io/checkpoint.h"
#include "afa/io/diffusers_folder.h"
#include "afa/io/ldm_names.h"
#include "afa/io/safetensors_writer.h"
#include "afa/pipeline/stable_diffusion.h"
#include "afa/util/atomic_file.h"
#include "afa/util/error.h"

namespace afa::merge {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

void write_json(const fs::path& p, const json& j) { write_text_atomic(p.string(), j.dump(2) + "\n"); }

// Removes the half-built folder unless the merge got to the end.
struct TempFolder {
  fs::path path;
  bool keep = false;
  ~TempFolder() {
    std::error_code ec;
    if (!keep) fs::remove_all(path, ec);
  }
};

}  // namespace

void merge_to_diffusers(const Merger& m, const std::string& output_dir, const std::vector<std::string>& config_files,
                        const ProgressFn& progress, int64_t slab) {
  AFA_CHECK(!fs::exists(output_dir), output_dir, ": already exists; afa merge --format diffusers writes a new folder");
  for (const auto& in : m.options().models) {
    std::error_code e1, e2;
    AFA_CHECK(fs::weakly_canonical(in, e1) != fs::weakly_canonical(output_dir, e2), output_dir, ": is an input");
  }
  const std::string first = m.options().models.at(0);
  io::Checkpoint ck = io::load_checkpoint(first, config_files);  // configs (weights stay unread views)

  const io::Component comps[] = {io::Component::UNet, io::Component::VAE, io::Component::TextEncoder};
  struct Slot {
    io::Component c;
    io::ParamEntry e;
  };
  std::map<std::string, Slot> by_ldm;
  std::map<io::Component, std::vector<io::SafeTensorsWriter::Entry>> entries;
  for (io::Component c : comps)
    for (const auto& e : io::component_params(c, ck.component(c).config, ck.component(c).source)) by_ldm.emplace(e.ldm, Slot{c, e});
  for (const auto& p : m.plan()) {
    auto it = by_ldm.find(p.key);
    if (it != by_ldm.end()) entries[it->second.c].push_back({it->second.e.diffusers, p.dtype, it->second.e.shape});
  }
  for (io::Component c : comps)
    AFA_CHECK(entries[c].size() == io::component_params(c, ck.component(c).config).size(), first, ": the merge lacks ",
              "some ", io::component_name(c), " weights its config needs");

  TempFolder tmp{fs::path(output_dir).string() + ".tmp." + std::to_string(::getpid())};
  fs::remove_all(tmp.path);
  const auto meta = m.metadata();
  std::map<io::Component, std::unique_ptr<io::SafeTensorsWriter>> writers;
  for (io::Component c : comps) {
    fs::create_directories(tmp.path / io::component_name(c));
    const char* stem = c == io::Component::TextEncoder ? "model.safetensors" : "diffusion_pytorch_model.safetensors";
    writers[c] = std::make_unique<io::SafeTensorsWriter>((tmp.path / io::component_name(c) / stem).string(),
                                                         std::move(entries[c]), meta);
  }
  const size_t total = m.plan().size();
  for (size_t i = 0; i < total; ++i) {
    const PlannedTensor& p = m.plan()[i];
    auto it = by_ldm.find(p.key);
    if (it != by_ldm.end()) {
      const io::ParamEntry& e = it->second.e;
      io::SafeTensorsWriter& w = *writers[it->second.c];
      int64_t n = 1;
      for (int64_t s : p.shape) n *= s;
      if (m.splittable(i) && n > slab && p.shape[0] > 1) {
        const int64_t rows = p.shape[0], step = std::max<int64_t>(1, slab / std::max<int64_t>(1, n / rows));
        std::vector<int64_t> row_shape(e.shape.begin() + 1, e.shape.end());
        for (int64_t r = 0; r < rows; r += step) {
          const int64_t end = std::min(rows, r + step);
          std::vector<int64_t> shape{end - r};
          shape.insert(shape.end(), row_shape.begin(), row_shape.end());
          w.append_rows(e.diffusers, m.compute_rows(i, r, end).reshape(shape));
          m.release_rows(i, r, end);
        }
      } else {
        w.write(e.diffusers, io::ldm_to_diffusers(e, m.compute(i)).contiguous());
        m.release(i);
      }
    }
    if (progress) progress(i + 1, total);
  }
  for (auto& [c, w] : writers) w->commit();

  json unet = ck.unet.config, vae = ck.vae.config, text = ck.text_encoder.config, sched = ck.scheduler_config;
  unet["_class_name"] = "UNet2DConditionModel";
  vae["_class_name"] = "AutoencoderKL";
  text["architectures"] = json::array({"CLIPTextModel"});
  text["model_type"] = "clip_text_model";
  if (!sched.contains("_class_name")) sched["_class_name"] = "PNDMScheduler";
  write_json(tmp.path / "unet" / "config.json", unet);
  write_json(tmp.path / "vae" / "config.json", vae);
  write_json(tmp.path / "text_encoder" / "config.json", text);
  fs::create_directories(tmp.path / "scheduler");
  write_json(tmp.path / "scheduler" / "scheduler_config.json", sched);
  const fs::path tok = ck.tokenizer_dir.empty() ? fs::path(pipeline::default_tokenizer_dir()) : fs::path(ck.tokenizer_dir);
  fs::create_directories(tmp.path / "tokenizer");
  for (const auto& f : fs::directory_iterator(tok))
    if (f.is_regular_file()) fs::copy_file(f.path(), tmp.path / "tokenizer" / f.path().filename());
  write_json(tmp.path / "model_index.json", io::model_index_json(sched["_class_name"].get<std::string>()));
  fs::rename(tmp.path, output_dir);
  tmp.keep = true;
}

}  // namespace afa::merge
