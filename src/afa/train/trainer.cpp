#include "afa/train/trainer.h"

#include <csignal>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>

#include "afa/ensemble/afa_ensemble.h"
#include "afa/ensemble/aggregators.h"
#include "afa/io/checkpoint.h"
#include "afa/io/ldm_names.h"
#include "afa/io/safetensors.h"
#include "afa/io/state_dict.h"
#include "afa/models/autocast.h"
#include "afa/pipeline/stable_diffusion.h"
#include "afa/schedulers/ddpm.h"
#include "afa/train/adamw.h"
#include "afa/train/dataset.h"
#include "afa/train/grad_scaler.h"
#include "afa/train/denoising_loss.h"
#include "afa/train/latent_cache.h"
#include "afa/train/random_streams.h"
#include "afa/train/training_checkpoint.h"
#include "afa/util/error.h"
#include "afa/util/progress.h"
#include "afa/util/threads.h"

namespace afa::train {

namespace fs = std::filesystem;

namespace {

constexpr const char* kLogName = "train_log.jsonl";
constexpr const char* kCacheName = "latent_cache";
constexpr const char* kUNetFile = "model.safetensors";  // --unet: the fine-tuned model as an LDM single file

// Ctrl-C asks the loop to stop after the current step; a second Ctrl-C kills as usual.
volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_sigint(int) {
  g_stop = 1;
  std::signal(SIGINT, SIG_DFL);
}
struct SigintGuard {
  using Handler = void (*)(int);
  Handler previous;
  SigintGuard() {
    g_stop = 0;
    previous = std::signal(SIGINT, on_sigint);
  }
  ~SigintGuard() { std::signal(SIGINT, previous == SIG_ERR ? SIG_DFL : previous); }
};

ensemble::AggregatorOptions aggregator_options(const TrainOptions& o) {
  ensemble::AggregatorOptions a;
  a.hidden_size = o.hidden_size;
  a.num_layers = o.num_layers;
  a.num_attn_heads = o.num_heads;
  a.seed = o.seed;
  if (o.method == "scalar")
    a.spatial = false;
  else if (o.method == "no-time")
    a.use_timestep = false;
  else if (o.method == "no-text")
    a.use_text = false;
  else if (o.method == "last-block-only")
    a.last_block_only = true;
  else
    AFA_CHECK(o.method == "afa", "--method must be afa, scalar, no-time, no-text or last-block-only (got '",
              o.method, "')");
  return a;
}

AdamWOptions adamw_options(const TrainOptions& o) {
  AdamWOptions a;
  a.lr = o.lr;
  a.weight_decay = o.weight_decay;
  a.beta1 = o.beta1;
  a.beta2 = o.beta2;
  a.eps = o.eps;
  return a;
}

// The dtype of the frozen models and of autocast for --mixed-precision.
torch::ScalarType amp_dtype(const std::string& mp) {
  if (mp == "bf16") return torch::kBFloat16;
  if (mp == "fp16") return torch::kFloat16;
  AFA_CHECK(mp == "no", "--mixed-precision must be no, bf16 or fp16 (got '", mp, "')");
  return torch::kFloat32;
}

void check_options(const TrainOptions& o) {
  amp_dtype(o.mixed_precision);
  if (o.train_unet)
    AFA_CHECK(o.models.size() == 1, "--unet fine-tunes one model: give exactly one -m (got ", o.models.size(), ")");
  else
    AFA_CHECK(o.models.size() >= 2, "training an ensemble needs at least 2 models (-m), got ", o.models.size());
  AFA_CHECK(!o.data.empty(), "give the training data with --data FILE.jsonl");
  AFA_CHECK(!o.output.empty() || !o.resume.empty(), "give the output folder with -o/--output");
  AFA_CHECK(o.batch_size >= 1, "--batch-size must be at least 1 (got ", o.batch_size, ")");
  AFA_CHECK(o.grad_accum >= 1, "--grad-accum must be at least 1 (got ", o.grad_accum, ")");
  AFA_CHECK(o.epochs >= 1 || o.max_steps > 0, "--epochs must be at least 1 (got ", o.epochs, ")");
  AFA_CHECK(o.max_steps >= 0, "--max-steps must be >= 0 (got ", o.max_steps, ")");
  AFA_CHECK(o.warmup_steps >= 0, "--warmup-steps must be >= 0 (got ", o.warmup_steps, ")");
  AFA_CHECK(o.drop_text >= 0 && o.drop_text <= 1, "--drop-text must be in [0, 1] (got ", o.drop_text, ")");
  AFA_CHECK(o.max_grad_norm >= 0, "--max-grad-norm must be >= 0 (got ", o.max_grad_norm, ")");
  AFA_CHECK(o.save_every >= 0 && o.val_every >= 0, "--save-every and --val-every must be >= 0");
  AFA_CHECK(o.hidden_size >= 1 && o.num_layers >= 1 && o.num_heads >= 1 && o.hidden_size % o.num_heads == 0,
            "--hidden-size must be a positive multiple of --heads and --layers positive (got ", o.hidden_size, ", ",
            o.num_heads, ", ", o.num_layers, ")");
  aggregator_options(o);
}

torch::Device parse_device(const std::string& s) {
  if (s == "cpu") return torch::kCPU;
  if (s == "cuda" || s.rfind("cuda:", 0) == 0) {
    AFA_CHECK(torch::cuda::is_available(), "--device ", s, ": this build of afa has no CUDA");
    return torch::Device(s);
  }
  fail("--device must be cpu or cuda (got '", s, "')");
}

bool same_path(const std::string& a, const std::string& b) {
  return fs::weakly_canonical(fs::absolute(a)) == fs::weakly_canonical(fs::absolute(b));
}

// Entries a run keeps beside its checkpoint (moved along on each save).
const std::vector<std::string>& carried() {
  static const std::vector<std::string> names{kLogName, kCacheName};
  return names;
}

// A fresh run may write into a folder that does not exist, is empty, or holds only what an earlier run of
// ours left before its first checkpoint; anything else would be replaced by the checkpoint.
void check_fresh_output(const std::string& out) {
  if (!fs::exists(out)) return;
  AFA_CHECK(fs::is_directory(out), out, ": exists and is not a folder (-o/--output)");
  AFA_CHECK(!has_training_state(out), out, ": holds a training checkpoint; continue it with --resume ", out,
            " or choose another -o/--output");
  for (const auto& e : fs::directory_iterator(out)) {
    const std::string name = e.path().filename().string();
    bool ours = false;
    for (const auto& c : carried()) ours = ours || name == c;
    AFA_CHECK(ours, out, ": exists and is not empty (", name, "); the checkpoint would replace it, so choose "
                         "another -o/--output");
  }
}

// The log of the resumed run up to its checkpoint, so that a crash after a checkpoint leaves no lines for
// steps that will be redone.
void prepare_log(const std::string& out, const std::string& resume, int64_t step) {
  fs::create_directories(out);
  const fs::path dst = fs::path(out) / kLogName;
  std::vector<std::string> keep;
  if (!resume.empty()) {
    std::ifstream in(fs::path(resume) / kLogName);
    std::string line;
    while (std::getline(in, line)) {
      try {
        auto j = nlohmann::json::parse(line);
        if (j.value("step", int64_t(0)) <= step) keep.push_back(line);
      } catch (const nlohmann::json::exception&) {
        // a torn last line of a crashed run: dropped
      }
    }
  }
  const fs::path tmp = dst.string() + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    AFA_CHECK(f, tmp.string(), ": cannot write");
    for (const auto& l : keep) f << l << "\n";
  }
  fs::rename(tmp, dst);
}

class Trainer {
 public:
  explicit Trainer(const TrainOptions& o) : o_(o), dist_(o.distributed) {}
  TrainResult run();

 private:
  struct Batch {
    torch::Tensor x0, noise, timesteps;
    std::vector<std::string> texts;
    int64_t n = 0;
  };

  void load_models();
  void setup_aggregators(const std::optional<TrainingState>& resumed);
  void setup_unet();
  void write_unet(const std::string& dir);
  void set_train(bool on);
  void build_cache();
  Batch make_batch(const std::vector<int64_t>& indices, int64_t epoch, bool validation);
  std::vector<torch::Tensor> encode_texts(const std::vector<std::string>& texts);
  std::vector<int64_t> epoch_order(int64_t epoch) const;
  double validate();
  std::vector<int64_t> all_skipped();
  void save(TrainingState& st);
  void log(const nlohmann::json& j) const;
  void mark_bad(int64_t index) { bad_.insert(index); }

  TrainOptions o_;
  Distributed dist_;
  torch::Device device_ = torch::kCPU;
  std::string out_;
  Dataset data_;
  Split split_;
  ImageTransform transform_;
  std::vector<pipeline::StableDiffusion> sds_;
  std::unique_ptr<schedulers::DDPMScheduler> ddpm_;
  std::unique_ptr<ensemble::AfaEnsemble> ens_;      // AFA: the ensemble with trainable aggregators
  std::unique_ptr<pipeline::SingleUNet> single_;     // --unet: the one model, all of its U-Net trainable
  pipeline::Denoiser* denoiser_ = nullptr;
  std::string model0_;                               // where models[0] is loaded from (--unet resume: OUT)
  std::unique_ptr<AdamW> opt_;
  torch::ScalarType amp_ = torch::kFloat32;          // --mixed-precision: frozen models' and autocast's dtype
  GradScaler scaler_{false};
  std::unique_ptr<LatentCache> cache_;
  std::set<int64_t> bad_;
  nlohmann::json settings_;
  int64_t latent_c_ = 4, latent_hw_ = 0;
  double scaling_ = 0.18215;
};

void Trainer::load_models() {
  pipeline::LoadOptions lo;
  lo.config_files = o_.config_files;
  lo.device = device_;
  lo.dtype = amp_;  // frozen: the trainable part is made float32 (setup_aggregators, setup_unet)
  ProgressBar bar("loading", int64_t(o_.models.size()), o_.progress && dist_.is_main() && ProgressBar::stderr_is_terminal());
  for (size_t i = 0; i < o_.models.size(); ++i) {
    const std::string path = i == 0 ? model0_ : o_.models[i];
    AFA_CHECK(fs::exists(path), path, ": no such file or folder (-m/--model)");
    lo.load_vae = i == 0;  // one VAE encodes for the whole ensemble
    sds_.push_back(pipeline::load_stable_diffusion(path, lo));
    bar.update(int64_t(i + 1));
  }
  bar.finish();
  // The VAE only encodes (once, with --cache-latents) and is small: float32 spares it half-precision
  // overflow whatever --mixed-precision says.
  if (sds_[0].vae) sds_[0].vae->to(torch::kFloat32);
  // Everything loaded is frozen; only the aggregators learn (--unet: setup_unet thaws the one U-Net).
  for (auto& sd : sds_) {
    sd.unet->eval();
    for (auto& p : sd.unet->parameters()) p.set_requires_grad(false);
    sd.text_encoder->eval();
    for (auto& p : sd.text_encoder->parameters()) p.set_requires_grad(false);
    if (sd.vae) {
      sd.vae->eval();
      for (auto& p : sd.vae->parameters()) p.set_requires_grad(false);
    }
  }
  AFA_CHECK(sds_[0].vae, o_.models[0], ": no VAE");
  const auto& sc = sds_[0].scheduler_config;
  AFA_CHECK(sc.prediction_type == "epsilon", o_.models[0], ": training supports epsilon-prediction models only (",
            "the scheduler says '", sc.prediction_type, "')");
  ddpm_ = std::make_unique<schedulers::DDPMScheduler>(sc);
  const auto& vc = sds_[0].vae->config();
  scaling_ = vc.scaling_factor;
  latent_c_ = vc.latent_channels;
  const int64_t f = vc.downscale_factor();
  AFA_CHECK(o_.resolution % f == 0, "--resolution ", o_.resolution, " must be a multiple of the VAE's factor ", f);
  latent_hw_ = o_.resolution / f;
  int64_t down = 1;
  for (const auto& s : sds_[0].unet->stages()) down = std::max(down, s.downscale);
  AFA_CHECK(latent_hw_ % down == 0, "--resolution ", o_.resolution, " must be a multiple of ", f * down,
            " for these U-Nets");
}

void Trainer::setup_aggregators(const std::optional<TrainingState>& resumed) {
  const auto& u0 = sds_[0].unet;
  ensemble::AggregatorSet set;
  std::string source = "new aggregators";
  if (resumed) {
    set = ensemble::load_aggregators(o_.resume);
    source = o_.resume;
    // The checkpoint fixes the architecture: say so when the options ask for another one.
    const auto& c = set.aggregators.at(0)->config();
    const std::string was = resumed->settings.value("method", std::string("afa"));
    if (dist_.is_main() && (was != o_.method || c.hidden_size != o_.hidden_size || c.num_attn_heads != o_.num_heads ||
                            c.num_layers != o_.num_layers))
      std::cerr << "note: resuming " << o_.resume << " with its own aggregators (method " << was << ", hidden size "
                << c.hidden_size << ", " << c.num_attn_heads << " heads, " << c.num_layers
                << " layers); --method/--hidden-size/--heads/--layers do not apply to a resumed run\n";
  } else {
    set = ensemble::create_aggregators(u0->stages(), int64_t(sds_.size()), u0->config().cross_attention_dim,
                                       u0->config().time_embed_dim(), aggregator_options(o_));
  }
  set.to(device_, torch::kFloat32);
  set.train(true);
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (size_t i = 0; i < set.aggregators.size(); ++i)
    for (auto& p : set.aggregators[i]->named_parameters()) {
      p.value().set_requires_grad(true);
      named.emplace_back("aggregator_" + std::to_string(i) + "." + p.key(), p.value());
    }
  std::vector<models::UNet2DConditionModel> unets;
  for (auto& sd : sds_) unets.push_back(sd.unet);
  ens_ = std::make_unique<ensemble::AfaEnsemble>(std::move(unets), std::move(set), source);
  ens_->set_gradient_checkpointing(o_.gradient_checkpointing);
  denoiser_ = ens_.get();
  opt_ = std::make_unique<AdamW>(std::move(named), adamw_options(o_));
}

// --unet: the same loop with the model's own U-Net as the trainable part (its text encoder and VAE
// stay frozen). A resumed run loads the U-Net from the checkpoint (load_models used OUT/model.safetensors).
void Trainer::setup_unet() {
  auto& unet = sds_[0].unet;
  unet->to(torch::kFloat32);  // the trained weights are float32 whatever --mixed-precision says
  unet->gradient_checkpointing = o_.gradient_checkpointing;
  unet->train();
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (auto& p : unet->named_parameters()) {
    p.value().set_requires_grad(true);
    named.emplace_back("unet." + p.key(), p.value());
  }
  single_ = std::make_unique<pipeline::SingleUNet>(unet);
  denoiser_ = single_.get();
  opt_ = std::make_unique<AdamW>(std::move(named), adamw_options(o_));
}

// The fine-tuned model as one LDM single file: the trained U-Net with the source's text encoder and VAE.
// It loads with the --config the source needed.
void Trainer::write_unet(const std::string& dir) {
  auto ck = io::load_checkpoint(model0_, o_.config_files);
  std::map<std::string, torch::Tensor> trained;
  for (const auto& [name, t] : io::state_dict(*sds_[0].unet)) trained[name] = t.to(torch::kCPU, torch::kFloat32);
  auto tensors = io::to_ldm_tensors(io::Component::UNet, ck.unet.config, trained, "the trained U-Net");
  for (auto c : {io::Component::VAE, io::Component::TextEncoder}) {
    const auto& w = ck.component(c);
    std::map<std::string, torch::Tensor> f32;
    for (const auto& [name, t] : w.tensors) f32[name] = t.to(torch::kFloat32);
    auto more = io::to_ldm_tensors(c, w.config, f32, w.source);
    tensors.insert(tensors.end(), more.begin(), more.end());
  }
  fs::create_directories(dir);
  io::save_safetensors((fs::path(dir) / kUNetFile).string(), tensors, {{"afa_fine_tuned_from", o_.models[0]}});
}

void Trainer::set_train(bool on) {
  if (ens_) ens_->aggregators().train(on);
  if (single_) sds_[0].unet->train(on);
}

std::vector<torch::Tensor> Trainer::encode_texts(const std::vector<std::string>& texts) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> out;
  for (auto& sd : sds_) out.push_back(sd.text_encoder->forward(sd.tokenizer->encode_batch(texts).to(device_)));
  return out;
}

// Validation samples: centre crop, no flip, their own fixed draws, never a dropped caption.
Trainer::Batch Trainer::make_batch(const std::vector<int64_t>& indices, int64_t epoch, bool validation) {
  ImageTransform tr = transform_;
  if (validation) {
    tr.center_crop = true;
    tr.random_flip = false;
  }
  std::vector<torch::Tensor> means, stds, pixels, eps, noises;
  std::vector<int64_t> ts;
  Batch b;
  for (int64_t i : indices) {
    if (bad_.count(i)) continue;
    torch::Tensor mean, sigma, px;
    if (cache_) {
      auto e = cache_->get(i);
      if (!e) {
        mark_bad(i);
        continue;
      }
      mean = e->first;
      sigma = e->second;
    } else {
      auto gen_aug = validation ? stream_generator(o_.seed, Stream::kValidation, uint64_t(i), 0)
                                : stream_generator(o_.seed, Stream::kAugment, uint64_t(epoch), uint64_t(i));
      auto img = load_training_image(data_.samples[i], tr, gen_aug);
      if (!img) {
        mark_bad(i);
        continue;
      }
      px = *img;
    }
    auto gen = validation ? stream_generator(o_.seed, Stream::kValidation, uint64_t(i), 1)
                          : stream_generator(o_.seed, Stream::kDiffusion, uint64_t(epoch), uint64_t(i));
    const bool drop = torch::rand({1}, gen).item<double>() < (validation ? 0.0 : o_.drop_text);
    ts.push_back(torch::randint(0, ddpm_->num_train_timesteps(), {1}, gen, torch::kLong).item<int64_t>());
    eps.push_back(torch::randn({latent_c_, latent_hw_, latent_hw_}, gen));
    noises.push_back(torch::randn({latent_c_, latent_hw_, latent_hw_}, gen));
    b.texts.push_back(drop ? std::string() : data_.samples[i].text);
    if (cache_) {
      means.push_back(mean);
      stds.push_back(sigma);
    } else {
      pixels.push_back(px);
    }
  }
  b.n = int64_t(ts.size());
  if (b.n == 0) return b;
  torch::Tensor mean, sigma;
  if (cache_) {
    mean = torch::stack(means).to(device_, torch::kFloat32);
    sigma = torch::stack(stds).to(device_, torch::kFloat32);
  } else {
    torch::NoGradGuard no_grad;
    auto dist = sds_[0].vae->encode(torch::stack(pixels).to(device_, torch::kFloat32));
    mean = dist.mean.to(torch::kFloat32);
    sigma = dist.std.to(torch::kFloat32);
  }
  // latent_dist.sample() * scaling_factor, with this sample's own draw.
  b.x0 = ((mean + sigma * torch::stack(eps).to(device_)) * scaling_).detach();
  b.noise = torch::stack(noises).to(device_);
  b.timesteps = torch::tensor(ts, torch::kLong).to(device_);
  return b;
}

std::vector<int64_t> Trainer::epoch_order(int64_t epoch) const {
  auto gen = stream_generator(o_.seed, Stream::kOrder, uint64_t(epoch));
  auto perm = torch::randperm(int64_t(split_.train.size()), gen, torch::kLong);
  std::vector<int64_t> order;
  auto p = perm.accessor<int64_t, 1>();
  for (int64_t k = 0; k < perm.size(0); ++k) order.push_back(split_.train[p[k]]);
  return order;
}

void Trainer::build_cache() {
  nlohmann::json key = {{"data", fs::absolute(o_.data).lexically_normal().string()},
                        {"model", o_.models[0]},
                        {"resolution", o_.resolution},
                        {"center_crop", o_.center_crop},
                        {"random_flip", o_.random_flip},
                        {"seed", o_.seed},
                        {"val_fraction", o_.val_fraction},
               {"mode", o_.train_unet ? "unet" : "aggregators"}};
  cache_ = nullptr;
  auto cache = std::make_unique<LatentCache>((fs::path(out_) / kCacheName).string(), key,
                                             int64_t(data_.samples.size()));
  if (dist_.is_main()) cache->reset_if_stale();
  dist_.barrier();
  const std::set<int64_t> val(split_.val.begin(), split_.val.end());
  auto encode = [&](const std::vector<int64_t>& idx) {
    LatentCache::Encoded e;
    std::vector<torch::Tensor> px;
    for (int64_t i : idx) {
      const bool is_val = val.count(i) != 0;
      ImageTransform tr = transform_;
      if (is_val) {
        tr.center_crop = true;
        tr.random_flip = false;
      }
      // The crop of the first epoch (see make_batch).
      auto gen = is_val ? stream_generator(o_.seed, Stream::kValidation, uint64_t(i), 0)
                        : stream_generator(o_.seed, Stream::kAugment, 0, uint64_t(i));
      auto img = load_training_image(data_.samples[i], tr, gen);
      e.valid.push_back(img.has_value());
      px.push_back(img ? *img : torch::zeros({3, o_.resolution, o_.resolution}));
    }
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> means, stds;
    for (size_t s = 0; s < px.size(); s += size_t(o_.batch_size)) {
      const size_t end = std::min(px.size(), s + size_t(o_.batch_size));
      auto d = sds_[0].vae->encode(
          torch::stack(std::vector<torch::Tensor>(px.begin() + s, px.begin() + end)).to(device_, torch::kFloat32));
      means.push_back(d.mean.cpu());
      stds.push_back(d.std.cpu());
    }
    e.mean = torch::cat(means);
    e.stdev = torch::cat(stds);
    for (size_t k = 0; k < idx.size(); ++k)
      if (!e.valid[k]) {
        e.mean[int64_t(k)].zero_();
        e.stdev[int64_t(k)].zero_();
      }
    return e;
  };
  const bool show = o_.progress && dist_.is_main() && ProgressBar::stderr_is_terminal();
  std::unique_ptr<ProgressBar> bar;
  cache->fill(dist_.rank(), dist_.world_size(), encode, [&](int64_t done, int64_t total) {
    if (!bar) bar = std::make_unique<ProgressBar>("caching latents", total, show);
    bar->update(done);
  });
  if (bar) bar->finish();
  dist_.barrier();
  cache->open();
  for (int64_t i : cache->invalid()) mark_bad(i);
  cache_ = std::move(cache);
}

double Trainer::validate() {
  if (split_.val.empty()) return -1;
  set_train(false);
  torch::NoGradGuard no_grad;
  double sum = 0, count = 0;
  std::vector<int64_t> mine;
  for (size_t k = size_t(dist_.rank()); k < split_.val.size(); k += size_t(dist_.world_size()))
    mine.push_back(split_.val[k]);
  for (size_t s = 0; s < mine.size(); s += size_t(o_.batch_size)) {
    std::vector<int64_t> idx(mine.begin() + s, mine.begin() + std::min(mine.size(), s + size_t(o_.batch_size)));
    Batch b = make_batch(idx, 0, true);
    if (b.n == 0) continue;
    models::AutocastGuard autocast(device_, amp_);
    auto per = per_sample_denoising_loss(*denoiser_, *ddpm_, b.x0, b.noise, b.timesteps, encode_texts(b.texts));
    sum += per.sum().item<double>();
    count += double(b.n);
  }
  std::vector<torch::Tensor> t{torch::tensor({sum, count}, torch::kFloat64)};
  dist_.all_reduce_sum(t);
  set_train(true);
  const double total = t[0][1].item<double>();
  return total > 0 ? t[0][0].item<double>() / total : -1;
}

// The union over ranks of the samples found unreadable.
std::vector<int64_t> Trainer::all_skipped() {
  if (dist_.world_size() > 1) {
    std::vector<torch::Tensor> mask{torch::zeros({int64_t(data_.samples.size())}, torch::kFloat32)};
    for (int64_t i : bad_) mask[0][i] = 1;
    dist_.all_reduce_sum(mask);
    auto m = mask[0].accessor<float, 1>();
    for (int64_t i = 0; i < m.size(0); ++i)
      if (m[i] > 0) bad_.insert(i);
  }
  return std::vector<int64_t>(bad_.begin(), bad_.end());
}

void Trainer::save(TrainingState& st) {
  st.skipped_samples = all_skipped();
  if (dist_.is_main()) {
    st.optimizer = opt_->state_dict();
    st.settings = settings_;
    st.loss_scale = scaler_.enabled() ? scaler_.scale() : 0.0;
    st.loss_scale_clean_steps = scaler_.clean_steps();
    save_training_checkpoint(
        out_,
        [&](const std::string& dir) {
          if (ens_)
            ensemble::save_aggregators(ens_->aggregators(), dir);
          else
            write_unet(dir);
        },
        st, carried());
  }
  dist_.barrier();
}

void Trainer::log(const nlohmann::json& j) const {
  if (!dist_.is_main()) return;
  std::ofstream f(fs::path(out_) / kLogName, std::ios::app);
  f << j.dump() << "\n";
}

TrainResult Trainer::run() {
  check_options(o_);
  device_ = parse_device(o_.device);
  set_threads(o_.threads);
  amp_ = amp_dtype(o_.mixed_precision);
  AFA_CHECK(amp_ != torch::kFloat16 || device_.is_cuda(),
            "--mixed-precision fp16 needs --device cuda (CPU autocast is bfloat16 only: use bf16)");
  scaler_ = GradScaler(amp_ == torch::kFloat16);
  out_ = o_.output.empty() ? o_.resume : o_.output;
  model0_ = o_.train_unet && !o_.resume.empty() ? (fs::path(o_.resume) / kUNetFile).string() : o_.models.at(0);

  data_ = load_dataset(o_.data);
  split_ = split_dataset(int64_t(data_.samples.size()), o_.val_fraction, o_.seed);
  transform_.resolution = o_.resolution;
  transform_.center_crop = o_.center_crop;
  transform_.random_flip = o_.random_flip;
  const int64_t world = dist_.world_size();
  const int64_t global_batch = o_.batch_size * o_.grad_accum * world;
  const int64_t n_train = int64_t(split_.train.size());
  const int64_t steps_per_epoch = n_train / global_batch;
  AFA_CHECK(steps_per_epoch >= 1, o_.data, ": ", n_train, " training samples are fewer than one step's ",
            global_batch, " (batch size x gradient accumulation x world size)");
  const int64_t total_steps = o_.max_steps > 0 ? o_.max_steps : o_.epochs * steps_per_epoch;

  // What decides the data order and the draws: a resumed run must keep it.
  settings_ = {{"num_samples", int64_t(data_.samples.size())},
               {"seed", o_.seed},
               {"batch_size", o_.batch_size},
               {"grad_accum", o_.grad_accum},
               {"world_size", world},
               {"resolution", o_.resolution},
               {"center_crop", o_.center_crop},
               {"random_flip", o_.random_flip},
               {"val_fraction", o_.val_fraction}};
  std::optional<TrainingState> resumed;
  if (!o_.resume.empty()) {
    resumed = load_training_state(o_.resume);
    for (auto it = settings_.begin(); it != settings_.end(); ++it) {
      const auto& was = resumed->settings.value(it.key(), nlohmann::json());
      AFA_CHECK(was == it.value(), o_.resume, ": the checkpoint was trained with ", it.key(), " = ", was.dump(),
                ", now ", it.value().dump(), "; resuming needs the same value (it decides the data order)");
    }
    AFA_CHECK(resumed->step_in_epoch <= steps_per_epoch &&
                  int64_t(resumed->data_order.size()) == n_train,
              o_.resume, ": the training state does not fit this data (", resumed->data_order.size(),
              " samples in its order, ", n_train, " now)");
    if (dist_.is_main() && !same_path(out_, o_.resume)) check_fresh_output(out_);
  } else if (dist_.is_main()) {
    check_fresh_output(out_);
  }
  // Keep what does not decide the order, for the record.
  nlohmann::json record = settings_;
  record["data"] = fs::absolute(o_.data).lexically_normal().string();
  record["models"] = o_.models;
  record["method"] = o_.method;
  record["lr"] = o_.lr;
  record["weight_decay"] = o_.weight_decay;
  record["warmup_steps"] = o_.warmup_steps;
  record["drop_text"] = o_.drop_text;
  record["mixed_precision"] = o_.mixed_precision;
  record["gradient_checkpointing"] = o_.gradient_checkpointing;
  settings_ = record;

  load_models();
  if (o_.train_unet)
    setup_unet();
  else
    setup_aggregators(resumed);
  if (resumed) opt_->load_state_dict(resumed->optimizer, (fs::path(o_.resume) / kStateTensors).string());

  TrainingState st;
  if (resumed) {
    st = *resumed;
    for (int64_t i : st.skipped_samples) bad_.insert(i);
    if (scaler_.enabled() && st.loss_scale > 0) scaler_.restore(st.loss_scale, st.loss_scale_clean_steps);
  } else {
    st.data_order = epoch_order(0);
  }
  if (dist_.is_main()) prepare_log(out_, o_.resume, st.step);
  dist_.barrier();
  if (o_.cache_latents) build_cache();

  TrainResult r;
  r.output = out_;
  r.start_step = st.step;
  const bool main = dist_.is_main();
  if (main) {
    if (ens_)
      std::cerr << "training " << ens_->aggregators().aggregators.size() << " aggregators (" << o_.method << ") of "
                << sds_.size() << " models";
    else
      std::cerr << "fine-tuning the U-Net of " << o_.models[0];
    std::cerr << " on " << n_train << " samples"
              << (split_.val.empty() ? "" : " (+" + std::to_string(split_.val.size()) + " validation)") << ", "
              << steps_per_epoch << " steps per epoch of " << global_batch << ", steps " << st.step << " -> "
              << total_steps << (world > 1 ? ", " + std::to_string(world) + " processes" : "") << "\n";
  }

  // The baseline of a fresh run: the validation loss of the initial aggregators.
  if (st.step == 0 && !split_.val.empty() && o_.val_every > 0) {
    r.initial_val_loss = validate();
    log({{"step", 0}, {"val_loss", r.initial_val_loss}});
  }

  SigintGuard sigint;
  ProgressBar bar("train", std::max<int64_t>(1, total_steps - st.step),
                  o_.progress && main && ProgressBar::stderr_is_terminal());
  const int64_t report_every = std::max<int64_t>(1, (total_steps - st.step) / 10);
  std::vector<torch::Tensor> params;
  for (const auto& p : opt_->params()) params.push_back(p.second);
  std::deque<double> recent;
  double recent_sum = 0;
  int64_t last_saved = -1, last_val = -1;
  const int64_t epochs_total = (total_steps + steps_per_epoch - 1) / steps_per_epoch;

  while (st.step < total_steps) {
    if (st.step_in_epoch == steps_per_epoch) {
      st.epoch += 1;
      st.step_in_epoch = 0;
      st.data_order = epoch_order(st.epoch);
    }
    opt_->zero_grad();
    double loss_sum = 0, count = 0;
    for (int64_t a = 0; a < o_.grad_accum; ++a) {
      const int64_t base = st.step_in_epoch * global_batch + a * o_.batch_size * world + dist_.rank() * o_.batch_size;
      std::vector<int64_t> idx(st.data_order.begin() + base, st.data_order.begin() + base + o_.batch_size);
      Batch b = make_batch(idx, st.epoch, false);
      if (b.n == 0) continue;
      torch::Tensor sum;
      {
        models::AutocastGuard autocast(device_, amp_);  // the forward only, as torch.autocast is meant
        auto per = per_sample_denoising_loss(*denoiser_, *ddpm_, b.x0, b.noise, b.timesteps, encode_texts(b.texts));
        sum = per.sum();
      }
      scaler_.scale_loss(sum).backward();
      loss_sum += sum.item<double>();
      count += double(b.n);
    }
    // The gradient of the mean over all readable samples of the step, on every rank.
    for (auto& p : params)
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    std::vector<torch::Tensor> scalars{torch::tensor({loss_sum, count}, torch::kFloat64)};
    dist_.all_reduce_sum(scalars);
    const double total_count = scalars[0][1].item<double>();
    const double loss = total_count > 0 ? scalars[0][0].item<double>() / total_count : 0;
    const double lr = warmup_lr(o_.lr, st.step, o_.warmup_steps);
    double grad_norm = 0;
    if (total_count > 0) {
      std::vector<torch::Tensor> grads;
      for (auto& p : params) grads.push_back(p.grad());
      dist_.all_reduce_sum(grads);
      {
        torch::NoGradGuard ng;
        for (auto& g : grads) g.div_(total_count);
      }
      // fp16: every rank sees the same all-reduced gradients, so all skip an overflowed step together.
      const bool finite = scaler_.unscale(grads);
      scaler_.update(finite);
      if (finite) {
        grad_norm = clip_grad_norm(params, o_.max_grad_norm);
        opt_->step(lr);
      } else if (main) {
        std::cerr << "warning: step " << st.step + 1 << ": float16 gradients overflowed; step skipped, loss scale now "
                  << scaler_.scale() << "\n";
      }
    } else if (main) {
      std::cerr << "warning: step " << st.step + 1 << " had no readable images; no update\n";
    }
    opt_->zero_grad();
    st.step += 1;
    st.step_in_epoch += 1;
    r.samples += int64_t(total_count);
    r.last_loss = loss;

    recent.push_back(loss);
    recent_sum += loss;
    if (recent.size() > 50) {
      recent_sum -= recent.front();
      recent.pop_front();
    }
    const double running = recent_sum / double(recent.size());
    const double elapsed = bar.elapsed_seconds();
    const double rate = elapsed > 0 ? double(r.samples) / elapsed : 0;
    log({{"step", st.step},
         {"epoch", st.epoch},
         {"loss", loss},
         {"lr", lr},
         {"grad_norm", grad_norm},
         {"samples", int64_t(total_count)},
         {"time_s", elapsed}});
    char extra[160];
    std::snprintf(extra, sizeof extra, "epoch %lld/%lld step %lld/%lld loss %.4f %.2f samples/s",
                  (long long)(st.epoch + 1), (long long)epochs_total, (long long)st.step, (long long)total_steps,
                  running, rate);
    bar.update(st.step - r.start_step, extra);
    if (main && !bar.enabled() && o_.progress && ((st.step - r.start_step) % report_every == 0 || st.step == total_steps))
      std::cerr << "train: " << extra << "\n";

    if (o_.val_every > 0 && !split_.val.empty() && st.step % o_.val_every == 0) {
      r.last_val_loss = validate();
      last_val = st.step;
      log({{"step", st.step}, {"val_loss", r.last_val_loss}});
    }
    if (o_.save_every > 0 && st.step % o_.save_every == 0 && st.step < total_steps) {
      save(st);
      last_saved = st.step;
    }
    if (o_.on_step) o_.on_step(st.step);
    // Every rank stops at the same step.
    double stop = g_stop ? 1 : 0;
    stop = dist_.all_reduce_sum(stop);
    if (stop > 0) {
      r.interrupted = true;
      break;
    }
  }
  bar.finish();
  if (!r.interrupted && !split_.val.empty() && last_val != st.step && st.step > r.start_step) {
    r.last_val_loss = validate();
    log({{"step", st.step}, {"val_loss", r.last_val_loss}});
  }
  if (last_saved != st.step && st.step > r.start_step) save(st);
  r.final_step = st.step;
  r.skipped_images = int64_t(all_skipped().size());
  if (main) {
    std::ostringstream msg;
    if (r.interrupted)
      msg << "interrupted at step " << st.step << "; checkpoint saved to " << out_ << " (continue with --resume "
          << out_ << ")";
    else
      msg << "trained steps " << r.start_step << " -> " << st.step << " (" << r.samples << " samples, "
          << format_duration(bar.elapsed_seconds()) << "), last loss " << r.last_loss
          << (r.last_val_loss >= 0 ? ", validation loss " + std::to_string(r.last_val_loss) : "")
          << "; " << (ens_ ? "aggregators" : "model") << " saved to " << out_;
    if (r.skipped_images > 0) msg << "; skipped " << r.skipped_images << " unreadable image(s)";
    std::cerr << msg.str() << "\n";
  }
  return r;
}

}  // namespace

TrainResult train(const TrainOptions& options) {
  Trainer t(options);
  return t.run();
}

}  // namespace afa::train
