#include "afa/train/training_checkpoint.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "afa/io/safetensors.h"
#include "afa/io/sha256.h"
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

namespace {

// Every file of a checkpoint folder with its size and SHA-256, so that a checkpoint damaged on disk
// (truncated, bytes flipped) is caught on --resume instead of silently used.
nlohmann::json file_digests(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename() != kStateJson) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  nlohmann::json out = nlohmann::json::object();
  for (const auto& f : files)
    out[f.lexically_relative(dir).generic_string()] = {{"size", fs::file_size(f)}, {"sha256", io::sha256_file(f.string())}};
  return out;
}

void write_checkpoint_folder(const fs::path& tmp, const std::function<void(const std::string&)>& write_weights,
                             const TrainingState& state) {
  write_weights(tmp.string());
  AFA_CHECK(fs::is_directory(tmp), tmp.string(), ": the weights were not written");
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  tensors.emplace_back("data_order", torch::tensor(state.data_order, torch::kLong));
  for (const auto& [name, t] : state.optimizer) tensors.emplace_back("optimizer." + name, t);
  io::save_safetensors((tmp / kStateTensors).string(), tensors, {{"afa_format", kFormat}});
  nlohmann::json j = {{"format", kFormat},
                      {"version", kVersion},
                      {"step", state.step},
                      {"epoch", state.epoch},
                      {"step_in_epoch", state.step_in_epoch},
                      {"skipped_images", state.skipped_samples.size()},
                      {"skipped_samples", state.skipped_samples},
                      {"settings", state.settings},
                      {"loss_scale", state.loss_scale},
                      {"loss_scale_clean_steps", state.loss_scale_clean_steps},
                      {"files", file_digests(tmp)}};
  // The JSON last: a folder with it has everything.
  write_text_file(tmp / kStateJson, j.dump(1) + "\n");
}

}  // namespace

void save_training_checkpoint(const std::string& dir, const std::function<void(const std::string&)>& write_weights,
                              const TrainingState& state, const std::vector<std::string>& carry) {
  const fs::path dst = fs::path(dir).lexically_normal();
  const std::string suffix = "." + std::to_string(::getpid());
  const fs::path tmp = dst.string() + ".saving" + suffix;
  const fs::path old = dst.string() + ".old" + suffix;
  fs::remove_all(tmp);
  // A failed write (a full disk, a quota, a read-only folder) leaves the previous checkpoint untouched:
  // nothing of it moved yet. The partial folder is removed so that it does not fill the disk further.
  try {
    write_checkpoint_folder(tmp, write_weights, state);
  } catch (const std::exception& e) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    fail(dst.string(), ": saving the checkpoint of step ", state.step, " failed: ", e.what(), "; ",
         fs::exists(dst / kStateJson) ? "the previous checkpoint is intact" : "no checkpoint was written");
  }

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

namespace {
// A leftover of save_training_checkpoint: "<name>.saving.<pid>" or "<name>.old.<pid>" of a dead process.
struct Leftover {
  fs::path path;
  bool saving = false;
  long pid = 0;
};
bool process_alive(long pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }
int64_t step_of(const fs::path& dir) {
  try {
    return read_json_file((dir / kStateJson).string(), "training state").value("step", int64_t(-1));
  } catch (const Error&) {
    return -1;
  }
}
}  // namespace

std::vector<std::string> recover_interrupted_save(const std::string& dir_in, const std::vector<std::string>& carry) {
  std::vector<std::string> done;
  const fs::path dst = fs::path(dir_in).lexically_normal();
  fs::path parent = dst.parent_path();
  if (parent.empty()) parent = ".";
  const std::string name = dst.filename().string();
  std::error_code ec;
  if (name.empty() || !fs::is_directory(parent, ec)) return done;
  std::vector<Leftover> left;
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    const std::string n = e.path().filename().string();
    for (const char* kind : {".saving.", ".old."}) {
      const std::string prefix = name + kind;
      if (n.rfind(prefix, 0) != 0) continue;
      const std::string pid = n.substr(prefix.size());
      if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
      Leftover l{e.path(), std::string(kind) == ".saving.", std::stol(pid)};
      if (!process_alive(l.pid) && fs::is_directory(l.path)) left.push_back(l);
    }
  }
  if (left.empty()) return done;
  // 1. No checkpoint in place: the newest complete leftover becomes it (a complete .saving folder is newer
  //    than any .old one).
  if (!has_training_state(dst.string())) {
    const Leftover* best = nullptr;
    int64_t best_step = -1;
    for (const auto& l : left) {
      const int64_t st = step_of(l.path);
      if (st > best_step || (st == best_step && best && l.saving && !best->saving)) best = &l, best_step = st;
    }
    if (best && best_step >= 0) {
      if (fs::exists(dst)) {  // e.g. a folder holding only a log: its entries join the checkpoint
        for (const auto& c : carry)
          if (fs::exists(dst / c) && !fs::exists(best->path / c)) fs::rename(dst / c, best->path / c);
        fs::remove_all(dst);
      }
      fs::rename(best->path, dst);
      done.push_back("recovered the checkpoint of step " + std::to_string(best_step) + " from the interrupted save " +
                     best->path.filename().string());
    }
  }
  // 2. Entries already carried into an unfinished folder go back; 3. the leftovers go.
  for (const auto& l : left) {
    if (!fs::exists(l.path)) continue;
    if (fs::is_directory(dst))
      for (const auto& c : carry)
        if (fs::exists(l.path / c) && !fs::exists(dst / c)) {
          fs::rename(l.path / c, dst / c);
          done.push_back("moved " + c + " back from " + l.path.filename().string());
        }
    fs::remove_all(l.path);
    done.push_back("removed the leftover " + l.path.filename().string());
  }
  return done;
}

namespace {
// The files recorded at save time must be there with the same size and SHA-256.
void verify_files(const std::string& dir, const nlohmann::json& files, const std::string& jpath) {
  AFA_CHECK(files.is_object(), jpath, ": 'files' must be an object");
  for (auto it = files.begin(); it != files.end(); ++it) {
    const fs::path f = fs::path(dir) / it.key();
    const std::string what = dir + ": the checkpoint is damaged: ";
    std::error_code ec;
    AFA_CHECK(fs::is_regular_file(f, ec), what, it.key(), " is missing");
    const uint64_t size = fs::file_size(f, ec);
    const uint64_t want = it.value().value("size", uint64_t(0));
    AFA_CHECK(size == want, what, it.key(), " has ", size, " bytes, ", want, " were written (truncated?)");
    AFA_CHECK(io::sha256_file(f.string()) == it.value().value("sha256", ""), what, it.key(),
              " does not have the SHA-256 it was written with (bytes changed on disk); resume from an older copy");
  }
}
}  // namespace

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
  if (j.contains("files")) verify_files(dir, j["files"], jpath);
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
