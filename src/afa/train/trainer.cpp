#include "afa/train/trainer.h"

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>

#include "afa/ensemble/afa_ensemble.h"
#include "afa/ensemble/aggregators.h"
#include "afa/models/autocast.h"
#include "afa/pipeline/load_ensemble.h"
#include "afa/schedulers/ddpm.h"
#include "afa/train/adamw.h"
#include "afa/train/dataset.h"
#include "afa/train/grad_scaler.h"
#include "afa/train/denoising_loss.h"
#include "afa/train/fine_tuned_model.h"
#include "afa/train/optimizer_step.h"
#include "afa/train/latent_cache.h"
#include "afa/train/model_identity.h"
#include "afa/train/random_streams.h"
#include "afa/train/run_folder.h"
#include "afa/train/sample_draw.h"
#include "afa/train/training_checkpoint.h"
#include "afa/util/error.h"
#include "afa/util/progress.h"
#include "afa/util/device.h"
#include "afa/util/interrupt.h"
#include "afa/util/threads.h"

namespace afa::train {

namespace fs = std::filesystem;

namespace {


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

  // How the steps fall: global batch, steps per epoch, total steps.
  struct Plan {
    int64_t world = 1, global_batch = 1, n_train = 0, steps_per_epoch = 1, total_steps = 0;
  };

  std::optional<TrainingState> prepare();
  TrainingState setup(const std::optional<TrainingState>& resumed);
  double train_step(TrainingState& st, int64_t& samples);
  std::string summary(const TrainResult& r, double seconds) const;
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
  std::unique_ptr<RunLock> lock_;  // held by the main process for the whole run
  Dataset data_;
  Split split_;
  ImageTransform transform_;
  pipeline::LoadedEnsemble models_;
  std::unique_ptr<schedulers::DDPMScheduler> ddpm_;
  std::unique_ptr<ensemble::AfaEnsemble> ens_;      // AFA: the ensemble with trainable aggregators
  std::unique_ptr<pipeline::SingleUNet> single_;     // --unet: the one model, all of its U-Net trainable
  pipeline::Denoiser* denoiser_ = nullptr;
  std::string model0_;                               // where models[0] is loaded from (--unet resume: OUT)
  std::unique_ptr<AdamW> opt_;
  std::vector<torch::Tensor> params_;                // the optimizer's parameters
  Plan plan_;
  std::function<double()> elapsed_ = [] { return 0.0; };  // seconds since the loop started
  torch::ScalarType amp_ = torch::kFloat32;          // --mixed-precision: frozen models' and autocast's dtype
  GradScaler scaler_{false};
  std::unique_ptr<LatentCache> cache_;
  std::set<int64_t> bad_;
  nlohmann::json settings_;
  int64_t latent_c_ = 4, latent_hw_ = 0;
  double scaling_ = 0.18215;
};

void Trainer::load_models() {
  pipeline::EnsembleLoadOptions lo;
  lo.load.config_files = o_.config_files;
  lo.load.device = device_;
  lo.load.dtype = amp_;  // frozen: the trainable part is made float32 (setup_aggregators, setup_unet)
  lo.progress = o_.progress && dist_.is_main();
  std::vector<std::string> paths = o_.models;
  paths.at(0) = model0_;
  models_ = pipeline::load_ensemble(paths, lo);
  // The VAE only encodes (once, with --cache-latents) and is small: float32 spares it half-precision
  // overflow whatever --mixed-precision says.
  if (models_.models[0].vae) models_.models[0].vae->to(torch::kFloat32);
  // Everything loaded is frozen; only the aggregators learn (--unet: setup_unet thaws the one U-Net).
  for (auto& sd : models_.models) {
    sd.unet->eval();
    for (auto& p : sd.unet->parameters()) p.set_requires_grad(false);
    sd.text_encoder->eval();
    for (auto& p : sd.text_encoder->parameters()) p.set_requires_grad(false);
    if (sd.vae) {
      sd.vae->eval();
      for (auto& p : sd.vae->parameters()) p.set_requires_grad(false);
    }
  }
  AFA_CHECK(models_.models[0].vae, o_.models[0], ": no VAE");
  const auto& sc = models_.models[0].scheduler_config;
  AFA_CHECK(sc.prediction_type == "epsilon", o_.models[0], ": training supports epsilon-prediction models only (",
            "the scheduler says '", sc.prediction_type, "')");
  ddpm_ = std::make_unique<schedulers::DDPMScheduler>(sc);
  const auto& vc = models_.models[0].vae->config();
  scaling_ = vc.scaling_factor;
  latent_c_ = vc.latent_channels;
  const int64_t f = vc.downscale_factor();
  AFA_CHECK(o_.resolution % f == 0, "--resolution ", o_.resolution, " must be a multiple of the VAE's factor ", f);
  latent_hw_ = o_.resolution / f;
  int64_t down = 1;
  for (const auto& s : models_.models[0].unet->stages()) down = std::max(down, s.downscale);
  AFA_CHECK(latent_hw_ % down == 0, "--resolution ", o_.resolution, " must be a multiple of ", f * down,
            " for these U-Nets");
}

void Trainer::setup_aggregators(const std::optional<TrainingState>& resumed) {
  const auto& u0 = models_.models[0].unet;
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
    set = ensemble::create_aggregators(u0->stages(), int64_t(models_.models.size()), u0->config().cross_attention_dim,
                                       u0->config().time_embed_dim(), aggregator_options(o_));
  }
  set.to(device_, torch::kFloat32);
  set.train(true);
  auto named = set.named_parameters();
  for (auto& p : named) p.second.set_requires_grad(true);
  ens_ = std::make_unique<ensemble::AfaEnsemble>(models_.unets(), std::move(set), source);
  ens_->set_gradient_checkpointing(o_.gradient_checkpointing);
  denoiser_ = ens_.get();
  opt_ = std::make_unique<AdamW>(std::move(named), adamw_options(o_));
}

// --unet: the same loop with the model's own U-Net as the trainable part (its text encoder and VAE
// stay frozen). A resumed run loads the U-Net from the checkpoint (load_models used OUT/model.safetensors).
void Trainer::setup_unet() {
  auto& unet = models_.models[0].unet;
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

void Trainer::write_unet(const std::string& dir) {
  write_fine_tuned_model(dir, models_.models[0].unet, model0_, o_.config_files, o_.models[0]);
}

void Trainer::set_train(bool on) {
  if (ens_) ens_->aggregators().train(on);
  if (single_) models_.models[0].unet->train(on);
}

std::vector<torch::Tensor> Trainer::encode_texts(const std::vector<std::string>& texts) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> out;
  for (auto& sd : models_.models) out.push_back(sd.text_encoder->forward(sd.tokenizer->encode_batch(texts).to(device_)));
  return out;
}

// Validation samples: centre crop, no flip, their own fixed draws, never a dropped caption (sample_draw.h).
Trainer::Batch Trainer::make_batch(const std::vector<int64_t>& indices, int64_t epoch, bool validation) {
  std::vector<torch::Tensor> means, stds, pixels, eps, noises;
  std::vector<int64_t> ts;
  Batch b;
  for (int64_t i : indices) {
    if (bad_.count(i)) continue;
    SampleDraw draw = sample_draw(o_.seed, transform_, i, epoch, validation);
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
      auto img = load_training_image(data_.samples[i], draw.transform, draw.augment);
      if (!img) {
        mark_bad(i);
        continue;
      }
      px = *img;
    }
    DiffusionDraw d = draw_diffusion(draw.diffusion, validation ? 0.0 : o_.drop_text, ddpm_->num_train_timesteps(),
                                     latent_c_, latent_hw_);
    ts.push_back(d.timestep);
    eps.push_back(d.vae_eps);
    noises.push_back(d.noise);
    b.texts.push_back(d.drop_text ? std::string() : data_.samples[i].text);
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
    auto dist = models_.models[0].vae->encode(torch::stack(pixels).to(device_, torch::kFloat32));
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
    return encode_for_cache(models_.models[0].vae, data_, idx, o_.seed, transform_, val, o_.batch_size, device_);
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
        st, carried_entries());
  }
  dist_.barrier();
}

void Trainer::log(const nlohmann::json& j) const {
  if (!dist_.is_main()) return;
  append_log(out_, j);
}

// 1. Options, device, data and the step plan; the settings a resumed run must share.
std::optional<TrainingState> Trainer::prepare() {
  check_options(o_);
  device_ = parse_device(o_.device);
  set_threads(o_.threads);
  amp_ = amp_dtype(o_.mixed_precision);
  AFA_CHECK(amp_ != torch::kFloat16 || device_.is_cuda(),
            "--mixed-precision fp16 needs --device cuda (CPU autocast is bfloat16 only: use bf16)");
  scaler_ = GradScaler(amp_ == torch::kFloat16);
  out_ = o_.output.empty() ? o_.resume : o_.output;
  model0_ = o_.train_unet && !o_.resume.empty() ? fine_tuned_model_path(o_.resume) : o_.models.at(0);

  data_ = load_dataset(o_.data);
  split_ = split_dataset(int64_t(data_.samples.size()), o_.val_fraction, o_.seed);
  transform_.resolution = o_.resolution;
  transform_.center_crop = o_.center_crop;
  transform_.random_flip = o_.random_flip;
  plan_.world = dist_.world_size();
  plan_.global_batch = o_.batch_size * o_.grad_accum * plan_.world;
  plan_.n_train = int64_t(split_.train.size());
  plan_.steps_per_epoch = plan_.n_train / plan_.global_batch;
  AFA_CHECK(plan_.steps_per_epoch >= 1, o_.data, ": ", plan_.n_train, " training samples are fewer than one step's ",
            plan_.global_batch, " (batch size x gradient accumulation x world size)");
  plan_.total_steps = o_.max_steps > 0 ? o_.max_steps : o_.epochs * plan_.steps_per_epoch;

  // What decides the data order and the draws: a resumed run must keep it.
  settings_ = {{"num_samples", int64_t(data_.samples.size())},
               {"seed", o_.seed},
               {"batch_size", o_.batch_size},
               {"grad_accum", o_.grad_accum},
               {"world_size", plan_.world},
               {"resolution", o_.resolution},
               {"center_crop", o_.center_crop},
               {"random_flip", o_.random_flip},
               {"val_fraction", o_.val_fraction}};
  if (dist_.is_main()) {
    lock_ = std::make_unique<RunLock>(out_);
    // A save killed between its renames leaves the checkpoint beside its folder: put it back first.
    for (const auto& dir : {o_.resume, out_})
      if (!dir.empty())
        for (const auto& what : recover_interrupted_save(dir, carried_entries())) std::cerr << dir << ": " << what << "\n";
  }
  std::optional<TrainingState> resumed;
  if (!o_.resume.empty()) {
    resumed = load_training_state(o_.resume);
    for (auto it = settings_.begin(); it != settings_.end(); ++it) {
      const auto& was = resumed->settings.value(it.key(), nlohmann::json());
      AFA_CHECK(was == it.value(), o_.resume, ": the checkpoint was trained with ", it.key(), " = ", was.dump(),
                ", now ", it.value().dump(), "; resuming needs the same value (it decides the data order)");
    }
    AFA_CHECK(resumed->step_in_epoch <= plan_.steps_per_epoch && int64_t(resumed->data_order.size()) == plan_.n_train,
              o_.resume, ": the training state does not fit this data (", resumed->data_order.size(),
              " samples in its order, ", plan_.n_train, " now)");
    if (dist_.is_main() && !same_path(out_, o_.resume)) check_fresh_output(out_);
  } else if (dist_.is_main()) {
    check_fresh_output(out_);
  }
  // The models' identities: aggregator slot i belongs to model i, so a resume must get the same models
  // in the same order (or --force).
  std::vector<ModelIdentity> ids;
  nlohmann::json ids_json = nlohmann::json::array();
  if (dist_.is_main()) {
    for (const auto& m : o_.models) ids.push_back(model_identity(m));
    for (const auto& id : ids) ids_json.push_back(to_json(id));
  }
  if (resumed && dist_.is_main() && resumed->settings.contains("model_identities")) {
    std::vector<ModelIdentity> was;
    for (const auto& j : resumed->settings["model_identities"]) was.push_back(identity_from_json(j));
    const std::string why = identity_mismatch(was, ids, o_.models);
    AFA_CHECK(why.empty() || o_.force, o_.resume, ": ", why,
              ". Give the models the checkpoint was trained with, in their order (afa train --resume ", o_.resume,
              " alone takes them from the checkpoint), or --force to resume with these");
    if (!why.empty()) std::cerr << "warning: --force: resuming " << o_.resume << " although " << why << "\n";
  }
  // Keep what does not decide the order, for the record (and for `afa train --resume OUT` alone).
  auto absolute = [](const std::string& p) { return fs::absolute(p).lexically_normal().string(); };
  nlohmann::json record = settings_;
  record["data"] = absolute(o_.data);
  std::vector<std::string> models, configs;
  for (const auto& m : o_.models) models.push_back(absolute(m));
  for (const auto& c : o_.config_files) configs.push_back(absolute(c));
  record["models"] = models;
  record["model_identities"] = ids_json;
  record["config_files"] = configs;
  record["train_unet"] = o_.train_unet;
  // A resumed run keeps its aggregators, so the record keeps their method and shape.
  const nlohmann::json& was = resumed ? resumed->settings : nlohmann::json::object();
  record["method"] = was.value("method", o_.method);
  record["hidden_size"] = was.value("hidden_size", o_.hidden_size);
  record["num_heads"] = was.value("num_heads", o_.num_heads);
  record["num_layers"] = was.value("num_layers", o_.num_layers);
  record["epochs"] = o_.epochs;
  record["max_steps"] = o_.max_steps;
  record["save_every"] = o_.save_every;
  record["val_every"] = o_.val_every;
  record["cache_latents"] = o_.cache_latents;
  record["lr"] = o_.lr;
  record["weight_decay"] = o_.weight_decay;
  record["warmup_steps"] = o_.warmup_steps;
  record["lr_scheduler"] = o_.lr_scheduler;
  record["max_grad_norm"] = o_.max_grad_norm;
  record["drop_text"] = o_.drop_text;
  record["mixed_precision"] = o_.mixed_precision;
  record["gradient_checkpointing"] = o_.gradient_checkpointing;
  settings_ = record;
  return resumed;
}

// 2. Models, the trainable part and its optimizer, the training state, the log and the latent cache.
TrainingState Trainer::setup(const std::optional<TrainingState>& resumed) {
  load_models();
  if (o_.train_unet)
    setup_unet();
  else
    setup_aggregators(resumed);
  if (resumed) opt_->load_state_dict(resumed->optimizer, (fs::path(o_.resume) / kStateTensors).string());
  for (const auto& p : opt_->params()) params_.push_back(p.second);

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
  if (dist_.is_main()) {
    if (ens_)
      std::cerr << "training " << ens_->aggregators().aggregators.size() << " aggregators (" << o_.method << ") of "
                << models_.models.size() << " models";
    else
      std::cerr << "fine-tuning the U-Net of " << o_.models[0];
    std::cerr << " on " << plan_.n_train << " samples"
              << (split_.val.empty() ? "" : " (+" + std::to_string(split_.val.size()) + " validation)") << ", "
              << plan_.steps_per_epoch << " steps per epoch of " << plan_.global_batch << ", steps " << st.step
              << " -> " << plan_.total_steps
              << (plan_.world > 1 ? ", " + std::to_string(plan_.world) + " processes" : "") << "\n";
  }
  return st;
}

// 3. One optimizer step: this rank's micro-batches of the global batch, then the update on every rank.
// Returns the step's mean loss over all readable samples (all ranks) and adds them to `samples`.
double Trainer::train_step(TrainingState& st, int64_t& samples) {
  if (st.step_in_epoch == plan_.steps_per_epoch) {
    st.epoch += 1;
    st.step_in_epoch = 0;
    st.data_order = epoch_order(st.epoch);
  }
  opt_->zero_grad();
  double loss_sum = 0, count = 0;
  const int64_t world = plan_.world;
  for (int64_t a = 0; a < o_.grad_accum; ++a) {
    const int64_t base =
        st.step_in_epoch * plan_.global_batch + a * o_.batch_size * world + dist_.rank() * o_.batch_size;
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
  std::vector<torch::Tensor> scalars{torch::tensor({loss_sum, count}, torch::kFloat64)};
  dist_.all_reduce_sum(scalars);
  const double total_count = scalars[0][1].item<double>();
  const double loss = total_count > 0 ? scalars[0][0].item<double>() / total_count : 0;
  const double lr = scheduled_lr(o_.lr_scheduler, o_.lr, st.step, o_.warmup_steps, plan_.total_steps);
  StepOutcome out = optimizer_step(params_, *opt_, scaler_, dist_, total_count, lr, o_.max_grad_norm);
  if (dist_.is_main() && out.overflowed)
    std::cerr << "warning: step " << st.step + 1 << ": float16 gradients overflowed; step skipped, loss scale now "
              << scaler_.scale() << "\n";
  if (dist_.is_main() && total_count == 0)
    std::cerr << "warning: step " << st.step + 1 << " had no readable images; no update\n";
  opt_->zero_grad();
  st.step += 1;
  st.step_in_epoch += 1;
  samples += int64_t(total_count);
  log({{"step", st.step},
       {"epoch", st.epoch},
       {"loss", loss},
       {"lr", lr},
       {"grad_norm", out.grad_norm},
       {"samples", int64_t(total_count)},
       {"time_s", elapsed_()}});
  return loss;
}

TrainResult Trainer::run() {
  auto resumed = prepare();
  TrainingState st = setup(resumed);
  const int64_t total_steps = plan_.total_steps;
  const bool main = dist_.is_main();
  TrainResult r;
  r.output = out_;
  r.start_step = st.step;

  // The baseline of a fresh run: the validation loss of the initial weights.
  if (st.step == 0 && !split_.val.empty() && o_.val_every > 0) {
    r.initial_val_loss = validate();
    log({{"step", 0}, {"val_loss", r.initial_val_loss}});
  }

  // 4. The loop: steps, progress, validation, checkpoints, Ctrl-C.
  InterruptGuard interrupt;  // Ctrl-C or SIGTERM: save and stop after the current step
  ProgressBar bar("train", std::max<int64_t>(1, total_steps - st.step),
                  o_.progress && main && ProgressBar::stderr_is_terminal());
  elapsed_ = [&bar] { return bar.elapsed_seconds(); };
  const int64_t report_every = std::max<int64_t>(1, (total_steps - st.step) / 10);
  RunningMean recent(50);
  int64_t last_saved = -1, last_val = -1;
  const int64_t epochs_total = (total_steps + plan_.steps_per_epoch - 1) / plan_.steps_per_epoch;
  while (st.step < total_steps) {
    r.last_loss = train_step(st, r.samples);
    const double running = recent.add(r.last_loss);
    const double elapsed = bar.elapsed_seconds();
    const double rate = elapsed > 0 ? double(r.samples) / elapsed : 0;
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
    double stop = interrupt.requested() ? 1 : 0;
    stop = dist_.all_reduce_sum(stop);
    if (stop > 0) {
      r.interrupted = true;
      r.signal = interrupt.signal() == SIGTERM ? "SIGTERM" : "SIGINT";
      break;
    }
  }
  bar.finish();

  // 5. The final validation, checkpoint and summary. Steps without a single readable image changed
  // nothing: saving them would pass untrained aggregators off as trained.
  AFA_CHECK(st.step == r.start_step || r.samples > 0, o_.data, ": none of the images of ", st.step - r.start_step,
            " steps could be read (see the warnings above); nothing was trained and no checkpoint was written");
  if (!r.interrupted && !split_.val.empty() && last_val != st.step && st.step > r.start_step) {
    r.last_val_loss = validate();
    log({{"step", st.step}, {"val_loss", r.last_val_loss}});
  }
  if (last_saved != st.step && st.step > r.start_step) save(st);
  r.final_step = st.step;
  r.skipped_images = int64_t(all_skipped().size());
  if (main) std::cerr << summary(r, bar.elapsed_seconds()) << "\n";
  return r;
}

std::string Trainer::summary(const TrainResult& r, double seconds) const {
  std::ostringstream msg;
  if (r.interrupted)
    msg << "interrupted (" << r.signal << ") at step " << r.final_step << "; checkpoint saved to " << out_ << " (continue with --resume "
        << out_ << ")";
  else
    msg << "trained steps " << r.start_step << " -> " << r.final_step << " (" << r.samples << " samples, "
        << format_duration(seconds) << "), last loss " << r.last_loss
        << (r.last_val_loss >= 0 ? ", validation loss " + std::to_string(r.last_val_loss) : "") << "; "
        << (ens_ ? "aggregators" : "model") << " saved to " << out_;
  if (r.skipped_images > 0) msg << "; skipped " << r.skipped_images << " unreadable image(s)";
  return msg.str();
}

}  // namespace

TrainResult train(const TrainOptions& options) {
  Trainer t(options);
  return t.run();
}

}  // namespace afa::train
