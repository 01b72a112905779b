// afa convert: re-store a checkpoint in another dtype or format without changing what it computes.
//   aggregators  an aggregator checkpoint (official folder or our .safetensors) -> either layout; --dtype
//                applies to the single file (F16 halves a shipped set; loading casts back to float32);
//   models       a diffusers folder or LDM single file (.safetensors, or a .ckpt/.pt/.pth pickle read
//                without running it) -> either, through afa merge's one-model path;
//   state dicts  any other single file of named tensors (a metric's published .pt/.pth, e.g.
//                ImageReward.pt): the same names and values in a .safetensors file, floats re-stored in
//                --dtype if given, every other tensor (int64 buffers) as stored. --keep-names forces this
//                for an SD checkpoint too.
#include <filesystem>
#include <iostream>
#include <optional>

#include "afa/ensemble/aggregators.h"
#include "afa/io/safetensors.h"
#include "afa/io/safetensors_writer.h"
#include "afa/io/weights_file.h"
#include "afa/merge/diffusers_output.h"
#include "afa/merge/merger.h"
#include "afa/util/error.h"
#include "commands.h"

namespace fs = std::filesystem;

namespace afa::app {

namespace {

bool is_aggregator_checkpoint(const std::string& path) {
  if (fs::is_directory(path)) return fs::exists(fs::path(path) / "model_config.json") && fs::exists(fs::path(path) / "aggregator_0");
  if (fs::path(path).extension() != ".safetensors") return false;
  io::SafeTensorsFile f(path);
  return f.metadata().count("afa_format") && f.metadata().at("afa_format") == "aggregators";
}

// An SD checkpoint in LDM naming (what afa merge's one-model path reads): its U-Net, VAE or text
// encoder keys.
bool is_ldm_checkpoint(const io::WeightsFile& f) {
  for (const auto& n : f.names())
    for (const char* prefix : {"model.diffusion_model.", "first_stage_model.", "cond_stage_model."})
      if (n.rfind(prefix, 0) == 0) return true;
  return false;
}

// The tensors of `in` under their own names; floating tensors in `dtype` unless it is undefined.
void convert_state_dict(const io::WeightsFile& in, const std::string& out, std::optional<torch::ScalarType> dtype) {
  std::vector<io::SafeTensorsWriter::Entry> entries;
  for (const auto& n : in.names()) {
    const auto& info = in.info(n);
    const auto stored = io::dtype_from_name(info.dtype);
    entries.push_back({n, dtype && c10::isFloatingType(stored) ? *dtype : stored, info.shape});
  }
  io::SafeTensorsWriter w(out, entries, {{"format", "pt"}});
  for (const auto& e : entries) w.write(e.name, in.get(e.name).to(e.dtype).contiguous());
  w.commit();
}

torch::ScalarType file_dtype(const std::string& d) {
  if (d == "f32") return torch::kFloat32;
  if (d == "f16") return torch::kFloat16;
  if (d == "bf16") return torch::kBFloat16;
  fail("--dtype: '", d, "' is not f32, f16 or bf16");
}

}  // namespace

Run add_convert(CLI::App& app) {
  auto input = std::make_shared<std::string>();
  auto output = std::make_shared<std::string>();
  auto dtype = std::make_shared<std::string>();
  auto keep_names = std::make_shared<bool>(false);
  app.add_option("input", *input, "aggregator checkpoint or model (folder, .safetensors or pickled .ckpt/.pt/.pth)")->required();
  app.add_option("-o,--output", *output, "output: a .safetensors file, or a folder")->required();
  app.add_option("--dtype", *dtype,
                 "f32, f16 or bf16 (default: f32 for models and aggregators, the stored dtype for state dicts)");
  app.add_flag("--keep-names", *keep_names,
               "write the input's tensors under their own names (a plain state dict), even for an SD checkpoint");
  return [=] {
    AFA_CHECK(fs::exists(*input), *input, ": no such file or folder");
    AFA_CHECK(!fs::exists(*output), *output, ": exists already (convert never overwrites)");
    const auto dt = file_dtype(dtype->empty() ? "f32" : *dtype);
    const bool to_file = fs::path(*output).extension() == ".safetensors";
    if (!fs::is_directory(*input) && !is_aggregator_checkpoint(*input)) {
      const auto in = io::open_weights_file(*input);
      if (*keep_names || !is_ldm_checkpoint(*in)) {
        AFA_CHECK(to_file, *output, ": a state dict is written as one .safetensors file; name the output *.safetensors");
        convert_state_dict(*in, *output, dtype->empty() ? std::nullopt : std::optional<torch::ScalarType>(dt));
        std::cerr << "wrote " << in->names().size() << " tensors under their own names to " << *output << "\n";
        return 0;
      }
    } else {
      AFA_CHECK(!*keep_names, "--keep-names: ", *input, " is ", fs::is_directory(*input) ? "a folder" : "an aggregator set",
                ", not a single file of named tensors");
    }
    if (is_aggregator_checkpoint(*input)) {
      AFA_CHECK(to_file || dt == torch::kFloat32, "--dtype ", *dtype, ": the official folder layout is float32;"
                " write a .safetensors file for ", *dtype);
      ensemble::save_aggregators(ensemble::load_aggregators(*input), *output, dt);
      std::cerr << "wrote aggregators " << *output << "\n";
      return 0;
    }
    merge::MergeOptions mo;
    mo.models = {*input};
    mo.dtype = *dtype;
    mo.hash_inputs = false;
    merge::Merger m(mo);
    if (to_file) merge::merge_to_file(m, *output);
    else merge::merge_to_diffusers(m, *output);
    std::cerr << "wrote model " << *output << (to_file ? " (LDM single file)" : " (diffusers folder)") << "\n";
    return 0;
  };
}

}  // namespace afa::app
