// What keeps a resumed run honest: the models must be the checkpoint's, in its order (or --force);
// `--resume OUT` alone takes every setting from the checkpoint; a damaged checkpoint is refused; a save
// that fails (a full disk) leaves the previous checkpoint intact; a run without one readable image fails.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "afa/train/model_identity.h"
#include "afa/train/resume_options.h"
#include "afa/train/training_checkpoint.h"
#include "afa/util/error.h"
#include "train_test_util.h"

namespace afa::test {
namespace {

namespace fs = std::filesystem;

train::TrainOptions one_step(const std::string& data, const std::string& out) {
  auto o = tiny_train_options(data, out);
  o.batch_size = 2;
  o.max_steps = 1;
  return o;
}

TEST(ResumeSafety, ModelIdentityTellsFilesApart) {
  const auto a = train::model_identity(golden("pipelines/A.safetensors"));
  const auto b = train::model_identity(golden("pipelines/B.safetensors"));
  EXPECT_EQ(a.name, "A.safetensors");
  EXPECT_EQ(a.size, fs::file_size(golden("pipelines/A.safetensors")));
  EXPECT_EQ(a.fingerprint.size(), 64u);
  EXPECT_NE(a.fingerprint, b.fingerprint);
  EXPECT_EQ(train::model_identity(golden("pipelines/A.safetensors")), a);
  // A diffusers folder: its weight files, recursively.
  TempDir dir("identity");
  fs::create_directories(dir.path / "m" / "unet");
  fs::copy_file(golden("pipelines/A.safetensors"), dir.path / "m" / "unet" / "diffusion_pytorch_model.safetensors");
  std::ofstream(dir.path / "m" / "model_index.json") << "{}";
  const auto folder = train::model_identity((dir.path / "m").string());
  EXPECT_EQ(folder.name, "m");
  EXPECT_EQ(folder.size, a.size);
  EXPECT_NE(folder.fingerprint, a.fingerprint);  // the relative path is part of it
  EXPECT_EQ(train::identity_mismatch({a, b}, {a, b}, {"x", "y"}), "");
  EXPECT_NE(train::identity_mismatch({a, b}, {b, a}, {"x", "y"}).find("another order"), std::string::npos);
  EXPECT_NE(train::identity_mismatch({a, b}, {a, a}, {"x", "y"}).find("model 1 is y"), std::string::npos);
  EXPECT_NE(error_of([&] { train::model_identity((dir.path / "nothing").string()); }).find("nothing"),
            std::string::npos);
}

TEST(ResumeSafety, OtherModelsOrOrderAreRefusedUnlessForced) {
  TempDir dir("resume_models");
  auto data = make_synthetic_data(dir.path, 4);
  auto o = one_step(data, (dir.path / "out").string());
  train::train(o);

  auto swapped = o;
  swapped.output.clear();
  swapped.resume = o.output;
  swapped.max_steps = 2;
  std::swap(swapped.models[0], swapped.models[1]);
  std::string err = error_of([&] { train::train(swapped); });
  EXPECT_NE(err.find("another order"), std::string::npos) << err;
  EXPECT_NE(err.find("--force"), std::string::npos) << err;

  auto other = swapped;
  other.models = o.models;
  other.models[2] = o.models[0];
  err = error_of([&] { train::train(other); });
  EXPECT_NE(err.find("other models"), std::string::npos) << err;
  EXPECT_NE(err.find("model 2 is"), std::string::npos) << err;
  EXPECT_EQ(train::load_training_state(o.output).step, 1);  // nothing was trained or written

  // --force resumes, and records the models it now trains with.
  swapped.force = true;
  testing::internal::CaptureStderr();
  EXPECT_EQ(train::train(swapped).final_step, 2);
  err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("warning: --force"), std::string::npos) << err;
  auto st = train::load_training_state(o.output);
  EXPECT_EQ(st.settings["model_identities"][0]["name"], "B.safetensors");
}

TEST(ResumeSafety, ResumeAloneTakesTheCheckpointsSettingsAndKeepsItsMethod) {
  TempDir dir("resume_alone");
  auto data = make_synthetic_data(dir.path, 4);
  auto o = one_step(data, (dir.path / "out").string());
  o.method = "no-time";
  o.lr = 3e-4;
  train::train(o);

  // `afa train --resume OUT --max-steps 2 --method scalar`: everything else from the checkpoint.
  train::TrainOptions r;
  r.resume = o.output;
  r.max_steps = 2;
  r.method = "scalar";
  const std::set<std::string> given = {"--resume", "--max-steps", "--method"};
  train::fill_from_checkpoint(r, [&](const std::string& opt) { return given.count(opt) > 0; });
  ASSERT_EQ(r.models.size(), 3u);
  EXPECT_EQ(r.models[1], fs::absolute(o.models[1]).lexically_normal().string());
  EXPECT_EQ(r.config_files.size(), o.config_files.size());
  EXPECT_EQ(r.data, fs::absolute(data).lexically_normal().string());
  EXPECT_EQ(r.batch_size, 2);
  EXPECT_EQ(r.resolution, 128);
  EXPECT_EQ(r.hidden_size, 32);
  EXPECT_EQ(r.lr, 3e-4);
  EXPECT_EQ(r.seed, o.seed);
  EXPECT_EQ(r.method, "scalar");  // given, so kept: the trainer notes that it does not apply
  r.threads = 1;
  r.progress = false;
  r.distributed = o.distributed;
  testing::internal::CaptureStderr();
  EXPECT_EQ(train::train(r).final_step, 2);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("do not apply to a resumed run"), std::string::npos) << err;
  // The recorded method stays the one the aggregators were made with.
  EXPECT_EQ(train::load_training_state(o.output).settings["method"], "no-time");

  train::TrainOptions bad;
  bad.resume = (dir.path / "missing").string();
  EXPECT_NE(error_of([&] { train::fill_from_checkpoint(bad, [](const std::string&) { return false; }); })
                .find("no such checkpoint folder"),
            std::string::npos);
}

TEST(ResumeSafety, DamagedCheckpointIsRefused) {
  TempDir dir("resume_damaged");
  auto data = make_synthetic_data(dir.path, 4);
  auto o = one_step(data, (dir.path / "out").string());
  train::train(o);
  const fs::path state = fs::path(o.output) / train::kStateTensors;
  EXPECT_NO_THROW(train::load_training_state(o.output));

  // One flipped byte in the data section.
  const auto size = fs::file_size(state);
  {
    std::fstream f(state, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(std::streamoff(size - 3));
    char c = 0;
    f.read(&c, 1);
    c = char(c ^ 0x10);
    f.seekp(std::streamoff(size - 3));
    f.write(&c, 1);
  }
  std::string err = error_of([&] { train::load_training_state(o.output); });
  EXPECT_NE(err.find("the checkpoint is damaged"), std::string::npos) << err;
  EXPECT_NE(err.find(train::kStateTensors), std::string::npos) << err;

  // A truncated weights file.
  fs::path weights;
  for (const auto& e : fs::recursive_directory_iterator(o.output))
    if (e.path().extension() == ".safetensors" && e.path().filename() != train::kStateTensors) weights = e.path();
  ASSERT_FALSE(weights.empty());
  fs::resize_file(weights, fs::file_size(weights) - 100);
  err = error_of([&] { train::load_training_state(o.output); });
  EXPECT_NE(err.find("the checkpoint is damaged"), std::string::npos) << err;
}

// A full disk, simulated with a file-size limit (writes past it fail with EFBIG).
TEST(ResumeSafety, FailedSaveKeepsThePreviousCheckpoint) {
  TempDir dir("resume_full_disk");
  auto data = make_synthetic_data(dir.path, 4);
  auto o = one_step(data, (dir.path / "out").string());
  train::train(o);
  const auto before = aggregator_weights(o.output);

  auto more = o;
  more.output.clear();
  more.resume = o.output;
  more.max_steps = 2;
  struct rlimit old {};
  getrlimit(RLIMIT_FSIZE, &old);
  auto previous = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = old;
  small.rlim_cur = 64 * 1024;  // the log fits, the aggregators do not
  setrlimit(RLIMIT_FSIZE, &small);
  const std::string err = error_of([&] { train::train(more); });
  setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, previous);
  EXPECT_NE(err.find("saving the checkpoint of step 2 failed"), std::string::npos) << err;
  EXPECT_NE(err.find("the previous checkpoint is intact"), std::string::npos) << err;
  EXPECT_EQ(train::load_training_state(o.output).step, 1);
  EXPECT_EQ(max_weight_diff(before, aggregator_weights(o.output)), 0.0);
  for (const auto& e : fs::directory_iterator(dir.path))
    EXPECT_EQ(e.path().filename().string().find("out.saving"), std::string::npos) << e.path();
  // With room again the same resume succeeds.
  EXPECT_EQ(train::train(more).final_step, 2);
}

TEST(ResumeSafety, NoReadableImageIsAnError) {
  TempDir dir("resume_unreadable");
  auto data = make_synthetic_data(dir.path, 0, {R"({"image": "nope1.png", "text": "a"})",
                                                R"({"image": "nope2.png", "text": "b"})"});
  auto o = one_step(data, (dir.path / "out").string());
  testing::internal::CaptureStderr();
  const std::string err = error_of([&] { train::train(o); });
  testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("none of the images"), std::string::npos) << err;
  EXPECT_FALSE(train::has_training_state(o.output));
}

}  // namespace
}  // namespace afa::test
