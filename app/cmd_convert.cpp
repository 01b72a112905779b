// afa convert: re-store a checkpoint in another dtype or format without changing what it computes.
//   aggregators  an aggregator checkpoint (official folder or our .safetensors) -> either layout; --dtype
//                applies to the single file (F16 halves a shipped set; loading casts back to float32);
//   models       a diffusers folder or LDM single file (.safetensors, or a .ckpt/.pt/.pth pickle read
//                without running it) -> either, through afa merge's one-model path.
#include <filesystem>
#include <iostream>

#include "afa/ensemble/aggregators.h"
#include "afa/io/safetensors.h"
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
  auto dtype = std::make_shared<std::string>("f32");
  app.add_option("input", *input, "aggregator checkpoint or model (folder, .safetensors or pickled .ckpt/.pt/.pth)")->required();
  app.add_option("-o,--output", *output, "output: a .safetensors file, or a folder")->required();
  app.add_option("--dtype", *dtype, "f32, f16 or bf16")->capture_default_str();
  return [=] {
    AFA_CHECK(fs::exists(*input), *input, ": no such file or folder");
    AFA_CHECK(!fs::exists(*output), *output, ": exists already (convert never overwrites)");
    const auto dt = file_dtype(*dtype);
    const bool to_file = fs::path(*output).extension() == ".safetensors";
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
