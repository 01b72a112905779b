// Writing diffusers folders: what load_checkpoint reads back is what was written, the write is atomic, and
// an existing folder that is not a model is never replaced.
#include <gtest/gtest.h>

#include <filesystem>

#include "afa/io/checkpoint.h"
#include "afa/io/diffusers_folder.h"
#include "golden.h"
#include "test_util.h"

namespace afa::test {
namespace {

namespace fs = std::filesystem;

io::PipelineFolder folder_of(const io::Checkpoint& ck) {
  io::PipelineFolder p;
  p.unet = {ck.unet.config, ck.unet.tensors};
  p.vae = {ck.vae.config, ck.vae.tensors};
  p.text_encoder = {ck.text_encoder.config, ck.text_encoder.tensors};
  p.tokenizer_dir = ck.tokenizer_dir;
  p.scheduler_config = ck.scheduler_config;
  return p;
}

TEST(DiffusersFolder, RoundTripsThroughTheLoader) {
  TempDir tmp("folder");
  const fs::path dir = tmp.path;
  auto a = io::load_checkpoint(golden("pipelines/A"));
  io::save_diffusers_folder((dir / "A").string(), folder_of(a));
  auto b = io::load_checkpoint((dir / "A").string());
  EXPECT_EQ(b.format, "diffusers");
  EXPECT_EQ(b.dtype, "F32");
  for (auto c : {io::Component::UNet, io::Component::VAE, io::Component::TextEncoder}) {
    const auto& x = a.component(c);
    const auto& y = b.component(c);
    EXPECT_EQ(without_metadata(x.config), without_metadata(y.config)) << io::component_name(c);
    ASSERT_EQ(x.tensors.size(), y.tensors.size());
    for (const auto& [name, t] : x.tensors) EXPECT_TRUE(torch::equal(t, y.tensors.at(name))) << name;
  }
  EXPECT_EQ(without_metadata(a.scheduler_config), without_metadata(b.scheduler_config));
  EXPECT_TRUE(fs::is_regular_file(dir / "A" / "tokenizer" / "vocab.json"));

  // F16 storage halves the files and rounds the values as a cast does.
  auto p = folder_of(a);
  p.dtype = torch::kFloat16;
  io::save_diffusers_folder((dir / "A16").string(), p);
  auto h = io::load_checkpoint((dir / "A16").string());
  EXPECT_EQ(h.dtype, "F16");
  const auto& w = a.unet.tensors.at("conv_in.weight");
  EXPECT_TRUE(torch::equal(h.unet.tensors.at("conv_in.weight"), w.to(torch::kFloat16)));

  // An existing folder is replaced only when asked, and only if it is a model folder.
  EXPECT_NE(error_of([&] { io::save_diffusers_folder((dir / "A").string(), folder_of(a)); }).find("exists"),
            std::string::npos);
  EXPECT_NO_THROW(io::save_diffusers_folder((dir / "A").string(), folder_of(a), true));
  fs::create_directories(dir / "notes");
  EXPECT_NE(error_of([&] { io::save_diffusers_folder((dir / "notes").string(), folder_of(a), true); })
                .find("is not a diffusers folder"),
            std::string::npos);
  // No temporary folder is left behind.
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
}

}  // namespace
}  // namespace afa::test
