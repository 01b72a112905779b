// afa eval: image-set metrics, computed as their reference implementations compute them.
//   afa eval --images DIR [--reference DIR] --metrics fid,is [--weights DIR] [-o report.json]
//     fid  pytorch-fid 0.3.0: pool3 features of its FID Inception (bilinear resize to 299), Fréchet
//          distance of the two folders' Gaussians; needs --reference.
//     is   torch-fidelity 0.4.0: 1008-class logits without the fc bias (TF1-style resize), 10 splits,
//          rows shuffled with numpy's RandomState(2020).
//     clip-t torchmetrics 1.2 CLIPScore with CLIP ViT-L/14: 100 cos(image i, prompt i), mean clamped at 0.
//     clip-i 100 cos of CLIP ViT-L/14 image embeddings, averaged over all (image, reference image) pairs.
//     aes    LAION aesthetic predictor v2 on CLIP ViT-L/14 embeddings (openai CLIP's preprocessing).
//     pick   PickScore_v1: logit_scale.exp() cos(image i, prompt i).
//     hps    HPSv2: cos(image i, prompt i) (its benchmark reports x100).
//     ir     ImageReward: reward of (image i, prompt i), BLIP ViT-L + BERT with cross-attention + MLP.
// fid and is use pt_inception-2015-12-05.safetensors from the weights folder; the others the files named
// in metric_weights.h. clip-t, pick, hps and ir need prompts (image_prompts.h: a text file in the images'
// sorted order, or JSON lines by image name, or the manifests afa bench-quality leaves in the folders).
// A FILE.json beside a CLIP weights file (transformers' CLIPConfig) replaces the published architecture
// (for ir: ImageReward.json, see image_reward_config.h). Several --images folders are one set.
// Reference features (fid: mu and sigma; clip-i: the embeddings) are cached between runs, keyed by the
// reference files and the weights (feature_cache.h); --reference may also be pytorch-fid statistics (.npz).
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "afa/metrics/aesthetic_predictor.h"
#include "afa/metrics/clip_metrics.h"
#include "afa/metrics/clip_scores.h"
#include "afa/metrics/feature_cache.h"
#include "afa/metrics/fid_statistics_file.h"
#include "afa/metrics/frechet_distance.h"
#include "afa/metrics/image_folder.h"
#include "afa/metrics/image_prompts.h"
#include "afa/metrics/image_reward.h"
#include "afa/metrics/inception_preprocess.h"
#include "afa/metrics/inception_score.h"
#include "afa/metrics/inception_v3.h"
#include "afa/metrics/metric_weights.h"
#include "afa/pipeline/stable_diffusion.h"
#include "afa/util/atomic_file.h"
#include "afa/util/error.h"
#include "cmd_eval.h"
#include "commands.h"
#include "options.h"

namespace afa::app {

namespace {


const char* const kKnownMetrics = "fid, is, clip-t, clip-i, aes, pick, hps, ir";

std::set<std::string> parse_metrics(const std::string& list) {
  static const std::set<std::string> known{"fid", "is", "clip-t", "clip-i", "aes", "pick", "hps", "ir"};
  std::set<std::string> out;
  std::stringstream ss(list);
  std::string m;
  while (std::getline(ss, m, ',')) {
    if (m.empty()) continue;
    AFA_CHECK(known.count(m), "--metrics: unknown metric '", m, "' (known: ", kKnownMetrics, ")");
    out.insert(m);
  }
  AFA_CHECK(!out.empty(), "--metrics: name at least one metric (", kKnownMetrics, ")");
  return out;
}

// "A", "A and B", "A, B and C".
std::string join_and(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) out += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + names[i];
  return out;
}

std::vector<double> to_vector(const torch::Tensor& t) {
  const auto c = t.to(torch::kCPU, torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

// Mean, population standard deviation (np.std) and the per-image scores.
nlohmann::ordered_json mean_and_per_image(const torch::Tensor& scores) {
  const auto s = scores.to(torch::kFloat64);
  return {{"mean", s.mean().item<double>()},
          {"std", s.std(/*unbiased=*/false).item<double>()},
          {"per_image", to_vector(scores)}};
}

// The features one folder needs, batch by batch: pool3 on pytorch-fid's input (FID), logits_unbiased on
// torch-fidelity's (IS). Each metric keeps its reference's preprocessing, so both mean two passes.
struct FolderFeatures {
  torch::Tensor pool3, logits_unbiased;
  int64_t count = 0;
};

FolderFeatures folder_features(metrics::InceptionV3& model, const std::vector<std::string>& files, bool fid, bool is,
                               int64_t batch_size, const torch::Device& device, bool quiet) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> pool3, logits;
  FolderFeatures out;
  metrics::for_each_image_batch(files, batch_size, [&](const torch::Tensor& batch_u8) {
    const auto x = batch_u8.to(device);
    if (fid) pool3.push_back(model->fid_features(metrics::uint8_to_float01(x)).cpu());
    if (is) logits.push_back(model->fidelity_features(x).logits_unbiased.cpu());
    out.count += x.size(0);
    if (!quiet) std::cerr << "\r  " << out.count << "/" << files.size() << " images" << std::flush;
  });
  if (!quiet) std::cerr << "\n";
  if (fid) out.pool3 = torch::cat(pool3);
  if (is) out.logits_unbiased = torch::cat(logits);
  return out;
}

struct ClipWanted {
  bool clip_t, clip_i, aes, pick, hps;
};
struct ClipWeights {
  std::string clip, aes, pick, hps;
};

// The CLIP-family metrics, one model in memory at a time.
// The weights file and, when there is one, the FILE.json beside it that sets the architecture: both decide
// the features, so both are part of a cache key.
std::vector<std::string> weights_identity(const std::string& weights) {
  const auto json = std::filesystem::path(weights).replace_extension(".json");
  std::error_code ec;
  if (std::filesystem::is_regular_file(json, ec)) return {weights, json.string()};
  return {weights};
}

void run_clip_metrics(const EvalArgs& a, const ClipWanted& w, const ClipWeights& p,
                      const std::vector<std::string>& files, const std::vector<std::string>& ref_files,
                      const std::vector<std::string>& prompts, const text::ClipTokenizer* tokenizer,
                      const metrics::FeatureCache& cache, const torch::Device& device,
                      nlohmann::ordered_json& report) {
  using metrics::ClipPreprocess;
  auto images = [&](metrics::ClipModel& m, ClipPreprocess path, const std::vector<std::string>& f, const char* what) {
    if (!a.quiet) std::cerr << what << "\n";
    return metrics::clip_image_features(m, path, f, a.batch_size, device, [&](int64_t n) {
      if (!a.quiet) std::cerr << "\r  " << n << "/" << f.size() << " images" << std::flush;
    });
  };
  auto texts = [&](metrics::ClipModel& m) {
    return metrics::clip_text_features(m, *tokenizer, prompts, a.batch_size, device);
  };
  auto done = [&] {
    if (!a.quiet) std::cerr << "\n";
  };
  if (w.clip_t || w.clip_i || w.aes) {
    auto m = metrics::load_clip_model(
        p.clip, metrics::clip_config_for(p.clip, metrics::ClipConfig::vit_large_patch14()), device);
    if (w.clip_t || w.clip_i) {
      const auto img = images(m, ClipPreprocess::kClipHf, files, "CLIP ViT-L/14 image embeddings");
      done();
      if (w.clip_t) {
        const auto pairs = metrics::paired_cosine_100(img, texts(m));
        report["clip_t"] = {{"score", metrics::clip_score_from_pairs(pairs)}, {"per_image", to_vector(pairs)}};
      }
      if (w.clip_i) {
        // The reference set's embeddings: from the cache when this folder was embedded before.
        const auto desc = metrics::reference_cache_description(
            "clip-i: CLIP image features (CLIPImageProcessor), float32 [N, D]", ref_files, weights_identity(p.clip));
        torch::Tensor ref;
        if (auto hit = cache.load(desc); hit && hit->count("embeds") &&
                                         hit->at("embeds").sizes() == torch::IntArrayRef{int64_t(ref_files.size()),
                                                                                         img.size(1)}) {
          ref = hit->at("embeds");
          report["reference_cache"]["clip-i"] = {{"used", cache.path_for(desc)}};
          if (!a.quiet) std::cerr << "CLIP ViT-L/14 reference embeddings: from " << cache.path_for(desc) << "\n";
        } else {
          ref = images(m, ClipPreprocess::kClipHf, ref_files, "CLIP ViT-L/14 reference embeddings");
          done();
          const auto stored = cache.store(desc, {{"embeds", ref.contiguous()}});
          if (!stored.empty()) report["reference_cache"]["clip-i"] = {{"stored", stored}};
        }
        report["reference"] = a.reference;
        report["reference_count"] = ref_files.size();
        report["clip_i"] = {{"score", metrics::cosine_matrix_100(img, ref).to(torch::kFloat64).mean().item<double>()},
                            {"pairs", files.size() * ref_files.size()}};
      }
    }
    if (w.aes) {
      const auto img = images(m, ClipPreprocess::kTvPil, files, "CLIP ViT-L/14 embeddings (openai preprocessing)");
      done();
      auto mlp = metrics::load_aesthetic_predictor(p.aes, torch::kCPU);
      torch::NoGradGuard no_grad;
      report["aesthetic"] = mean_and_per_image(mlp->score_raw(img));
    }
  }
  if (w.pick) {
    auto m = metrics::load_clip_model(p.pick, metrics::clip_config_for(p.pick, metrics::ClipConfig::vit_huge_patch14()),
                                      device);
    const auto img = images(m, ClipPreprocess::kClipHf, files, "PickScore image embeddings");
    done();
    torch::NoGradGuard no_grad;
    report["pickscore"] = mean_and_per_image(metrics::paired_pick_scores(texts(m), img, m->logit_scale.cpu()));
  }
  if (w.hps) {
    auto m = metrics::load_clip_model(p.hps, metrics::clip_config_for(p.hps, metrics::ClipConfig::vit_huge_patch14()),
                                      device);
    const auto img = images(m, ClipPreprocess::kHpsv2, files, "HPSv2 image embeddings");
    done();
    report["hpsv2"] = mean_and_per_image(metrics::paired_cosine(texts(m), img));
  }
}

}  // namespace

int run_eval(const EvalArgs& a) {
  const auto wanted = parse_metrics(a.metrics);
  auto has = [&](const char* m) { return wanted.count(m) != 0; };
  const bool fid = has("fid"), is = has("is"), clip_t = has("clip-t"), clip_i = has("clip-i"), aes = has("aes"),
             pick = has("pick"), hps = has("hps"), ir = has("ir");
  AFA_CHECK(!a.images.empty(), "eval needs --images DIR");
  std::string images_label;  // the folders, for messages and the report
  for (const auto& d : a.images) images_label += (images_label.empty() ? "" : " + ") + d;
  AFA_CHECK(!fid || !a.reference.empty(),
            "--metrics fid needs --reference DIR (the real images to compare with) or --reference STATS.npz");
  AFA_CHECK(!clip_i || !a.reference.empty(), "--metrics clip-i needs --reference DIR (the images to compare with)");
  AFA_CHECK(fid || clip_i || a.reference.empty(), "--reference is used by fid and clip-i only; add one to --metrics");
  const bool clip_prompted = clip_t || pick || hps, prompted = clip_prompted || ir;
  const bool manifests = [&] {  // afa bench-quality's prompts*.jsonl in the images folders
    for (const auto& d : a.images)
      if (!metrics::folder_prompt_manifests(d).empty()) return true;
    return false;
  }();
  AFA_CHECK(!prompted || !a.prompts.empty() || manifests, "--metrics ", join_and([&] {
    std::vector<std::string> v;
    for (const char* m : {"clip-t", "pick", "hps", "ir"})
      if (has(m)) v.push_back(m);
    return v;
  }()),
            " needs --prompts FILE (one prompt per line, one per image in the images' sorted order; or FILE.jsonl "
            "of {\"image\", \"prompt\"} lines)");
  AFA_CHECK(prompted || a.prompts.empty(), "--prompts is used by clip-t, pick, hps and ir only; add one to --metrics");
  AFA_CHECK(a.splits >= 1, "--splits must be at least 1");
  if (!a.output.empty()) check_output_file(a.output, "-o");
  const auto device = parse_device(a.device);

  // Everything the user can get wrong is checked before the slow part: every weights file first.
  const std::string folder = metrics::weights_folder(a.weights);
  std::string inception_w, clip_w, aes_w, pick_w, hps_w, ir_w;
  if (fid || is)
    inception_w = metrics::require_weights_file(folder, metrics::kFidInceptionWeights,
                                                fid && is ? "FID and IS"
                                                : fid     ? "FID"
                                                          : "IS");
  if (clip_t || clip_i || aes) {
    std::vector<std::string> users;
    if (clip_t) users.push_back("CLIP-T");
    if (clip_i) users.push_back("CLIP-I");
    if (aes) users.push_back("the aesthetic score");
    clip_w = metrics::require_weights_file(folder, metrics::kClipVitL14Weights, join_and(users));
  }
  if (aes) aes_w = metrics::require_weights_file(folder, metrics::kAestheticWeights, "The aesthetic score");
  if (pick) pick_w = metrics::require_weights_file(folder, metrics::kPickScoreWeights, "PickScore");
  if (hps) hps_w = metrics::require_weights_file(folder, metrics::kHpsv2Weights, "HPSv2");
  if (ir) ir_w = metrics::require_weights_file(folder, metrics::kImageRewardWeights, "ImageReward");
  if (a.check_only) return 0;

  const bool ref_stats = (fid || clip_i) && metrics::is_fid_statistics_file(a.reference);
  AFA_CHECK(!ref_stats || !clip_i, "--reference ", a.reference,
            ": clip-i needs a folder of reference images; FID statistics (.npz) serve fid only");
  const metrics::FeatureCache cache(a.no_cache ? ""
                                    : a.cache_dir.empty() ? metrics::default_feature_cache_dir()
                                                          : a.cache_dir);
  // Several --images folders are one set: the union of their files, sorted by name as if in one folder
  // (shards of afa bench-quality), so a name may appear once only.
  std::vector<std::string> files;
  for (const auto& d : a.images) {
    const auto f = metrics::list_image_files(d);
    files.insert(files.end(), f.begin(), f.end());
  }
  std::stable_sort(files.begin(), files.end(), [](const std::string& x, const std::string& y) {
    return std::filesystem::path(x).filename() < std::filesystem::path(y).filename();
  });
  for (size_t i = 1; i < files.size(); ++i)
    AFA_CHECK(std::filesystem::path(files[i]).filename() != std::filesystem::path(files[i - 1]).filename(),
              "--images: ", files[i - 1], " and ", files[i], " have the same name; the folders' union needs unique names");
  std::vector<std::string> ref_files;
  if ((fid || clip_i) && !ref_stats) ref_files = metrics::list_image_files(a.reference);
  AFA_CHECK(!fid || (files.size() >= 2 && (ref_stats || ref_files.size() >= 2)),
            "FID needs at least 2 images in each folder (", images_label, ": ", files.size(), ", ", a.reference, ": ",
            ref_files.size(), ")");
  AFA_CHECK(!is || int64_t(files.size()) >= a.splits, "IS in ", a.splits, " splits needs at least ", a.splits,
            " images; ", images_label, " has ", files.size());
  std::vector<std::string> prompts;
  std::unique_ptr<text::ClipTokenizer> tokenizer;
  std::unique_ptr<text::BertTokenizer> bert;
  if (prompted) {
    prompts = metrics::prompts_for_images(files, a.prompts, a.images);
  }
  // Every prompt tokenized up front (text that is not UTF-8 fails here); truncation is reported once per
  // tokenizer with the first such image, since the references cut silently.
  auto check_prompts = [&](const auto& encode, const char* what) {
    size_t cut = 0, first = 0;
    for (size_t i = 0; i < prompts.size(); ++i) {
      bool truncated = false;
      try {
        truncated = encode(prompts[i]);
      } catch (const Error& err) {
        fail("the prompt of ", files[i], ": ", err.what());
      }
      if (truncated && cut++ == 0) first = i;
    }
    if (cut && !a.quiet)
      std::cerr << "warning: " << cut << " prompt(s) are longer than " << what << " reads (the first: "
                << files[first] << "); the rest of each is ignored, as by the reference code\n";
  };
  if (ir) {
    bert = std::make_unique<text::BertTokenizer>(text::BertTokenizer::image_reward(metrics::default_bert_vocab()));
    check_prompts([&](const std::string& p) { return bert->encode(p).truncated(); },
                  "ImageReward's 35 tokens ([CLS] and [SEP] included)");
  }
  if (clip_prompted) {
    tokenizer =
        std::make_unique<text::ClipTokenizer>(text::ClipTokenizer::from_folder(pipeline::default_tokenizer_dir()));
    check_prompts([&](const std::string& p) { return tokenizer->encode(p).truncated(); },
                  "CLIP's 77 tokens (start and end included)");
  }

  nlohmann::ordered_json report{{"images", a.images.size() == 1 ? nlohmann::ordered_json(a.images[0])
                                                                : nlohmann::ordered_json(a.images)},
                                {"count", files.size()}};
  if (!a.quiet) std::cerr << images_label << ": " << files.size() << " images\n";
  if (fid || is) {
    auto model = metrics::load_fid_inception(inception_w, device);
    const auto feats = folder_features(model, files, fid, is, a.batch_size, device, a.quiet);
    if (fid) {
      // The reference Gaussian: from a statistics file, from the cache, or computed (and then cached).
      metrics::Gaussian ref;
      if (ref_stats) {
        ref = metrics::load_fid_statistics(a.reference);
      } else {
        const auto desc = metrics::reference_cache_description("fid: pytorch-fid pool3 mu and sigma, float64",
                                                               ref_files, {inception_w});
        const auto hit = cache.load(desc);
        if (hit && hit->count("mu") && hit->count("sigma") && hit->at("mu").sizes() == torch::IntArrayRef{2048} &&
            hit->at("sigma").sizes() == torch::IntArrayRef{2048, 2048}) {
          ref = {hit->at("mu").to(torch::kFloat64), hit->at("sigma").to(torch::kFloat64)};
          report["reference_cache"]["fid"] = {{"used", cache.path_for(desc)}};
          if (!a.quiet) std::cerr << a.reference << ": statistics from " << cache.path_for(desc) << "\n";
        } else {
          if (!a.quiet) std::cerr << a.reference << ": " << ref_files.size() << " images\n";
          ref = metrics::fit_gaussian(folder_features(model, ref_files, true, false, a.batch_size, device, a.quiet).pool3);
          const auto stored = cache.store(desc, {{"mu", ref.mean}, {"sigma", ref.covariance}});
          if (!stored.empty()) report["reference_cache"]["fid"] = {{"stored", stored}};
        }
      }
      const auto t = metrics::frechet_terms(metrics::fit_gaussian(feats.pool3), ref);
      report["reference"] = a.reference;
      if (!ref_stats) report["reference_count"] = ref_files.size();
      report["fid"] = t.distance;
      report["fid_terms"] = {{"mean_term", t.mean_term},
                             {"trace_images", t.trace_a},
                             {"trace_reference", t.trace_b},
                             {"trace_sqrt_product", t.trace_sqrt_product}};
      // Fewer images than feature dimensions: singular covariances, FID biased upwards (pytorch-fid warns too).
      if (!a.quiet && (files.size() < 2048 || (!ref_stats && ref_files.size() < 2048)))
        std::cerr << "note: FID from fewer than 2048 images per set is biased and not comparable across set sizes\n";
    }
    if (is) {
      metrics::InceptionScoreOptions o;
      o.splits = a.splits;
      const auto r = metrics::inception_score(feats.logits_unbiased, o);
      report["inception_score"] = {
          {"mean", r.mean}, {"std", r.std}, {"splits", o.splits}, {"split_scores", r.split_scores}};
    }
  }
  run_clip_metrics(a, {clip_t, clip_i, aes, pick, hps}, {clip_w, aes_w, pick_w, hps_w}, files, ref_files, prompts,
                   tokenizer.get(), cache, device, report);
  if (ir) {
    auto m = metrics::load_image_reward(ir_w, metrics::image_reward_config_for(ir_w), device);
    if (!a.quiet) std::cerr << "ImageReward\n";
    const auto s = metrics::image_reward_scores(m, *bert, files, prompts, a.batch_size, device, [&](int64_t n) {
      if (!a.quiet) std::cerr << "\r  " << n << "/" << files.size() << " images" << std::flush;
    });
    if (!a.quiet) std::cerr << "\n";
    report["imagereward"] = mean_and_per_image(s);
  }

  // The weights file of each metric (aes: the CLIP file, then the predictor's).
  nlohmann::ordered_json weights;
  if (fid) weights["fid"] = inception_w;
  if (is) weights["is"] = inception_w;
  if (clip_t) weights["clip-t"] = clip_w;
  if (clip_i) weights["clip-i"] = clip_w;
  if (aes) weights["aes"] = {clip_w, aes_w};
  if (pick) weights["pick"] = pick_w;
  if (hps) weights["hps"] = hps_w;
  if (ir) weights["ir"] = ir_w;
  report["weights"] = weights;
  nlohmann::ordered_json refs;
  if (fid) refs["fid"] = "pytorch-fid 0.3.0 (pool3, bilinear resize to 299)";
  if (is) refs["is"] = "torch-fidelity 0.4.0 (logits_unbiased, TF1 resize, seed 2020)";
  if (clip_t) refs["clip-t"] = "torchmetrics 1.2.0 CLIPScore, openai/clip-vit-large-patch14 (CLIPImageProcessor)";
  if (clip_i) refs["clip-i"] = "mean 100 cos of openai/clip-vit-large-patch14 image embeddings over all pairs";
  if (aes) refs["aes"] = "improved-aesthetic-predictor v2 (sac+logos+ava1-l14-linearMSE), openai CLIP preprocessing";
  if (pick) refs["pick"] = "PickScore_v1 infer_example (logit_scale.exp() cos)";
  if (hps) refs["hps"] = "HPSv2 img_score.score (cos, ResizeMaxSize preprocessing)";
  if (ir) refs["ir"] = "ImageReward (THUDM c1392c6d) ImageReward.score, _transform preprocessing";
  report["reference_implementations"] = refs;
  const std::string text = report.dump(2) + "\n";
  if (!a.output.empty()) {
    write_text_atomic(a.output, text);
    if (!a.quiet) std::cerr << "wrote " << a.output << "\n";
  } else {
    std::cout << text;
  }
  return 0;
}

Run add_eval(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  app.add_option("--images", a->images,
                 "folder of generated images (.png, .jpg; not recursive); repeated: the union of the folders");
  app.add_option("--reference", a->reference,
                 "folder of images to compare with (fid: real images; clip-i), or fid: pytorch-fid statistics "
                 "(.npz with mu, sigma)");
  app.add_option("--cache-dir", a->cache_dir,
                 "where reference features are kept between runs (default: $AFA_CACHE_DIR, "
                 "$XDG_CACHE_HOME/afa/features or ~/.cache/afa/features)");
  app.add_flag("--no-cache", a->no_cache, "compute reference features afresh and keep nothing");
  app.add_option("--prompts", a->prompts,
                 "clip-t, pick, hps, ir: text file, one prompt per line, one per image in the images' sorted order; "
                 "or FILE.jsonl of {\"image\": NAME, \"prompt\": TEXT} lines (default: the images folders' "
                 "prompts*.jsonl, as afa bench-quality writes them)");
  app.add_option("--metrics", a->metrics, "comma-separated: fid, is, clip-t, clip-i, aes, pick, hps, ir")
      ->capture_default_str();
  app.add_option("--weights", a->weights,
                 "folder of metric weights (default: $AFA_WEIGHTS or ~/.cache/afa/weights), holding "
                 "pt_inception-2015-12-05.safetensors (fid, is), clip-vit-large-patch14.safetensors (clip-t, "
                 "clip-i, aes), sac+logos+ava1-l14-linearMSE.safetensors (aes), PickScore_v1.safetensors (pick), "
                 "HPS_v2_compressed.safetensors (hps), ImageReward.safetensors (ir)");
  app.add_option("-o,--output", a->output, "write the report (JSON) here (default: stdout)");
  app.add_option("--batch-size", a->batch_size, "images per forward pass")->capture_default_str();
  app.add_option("--splits", a->splits, "is: splits (torch-fidelity's default 10)")->capture_default_str();
  app.add_option("--device", a->device, "cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--threads", a->threads, "CPU threads (default: $AFA_THREADS or all cores)");
  app.add_flag("-q,--quiet", a->quiet, "no progress output");
  return [a] {
    set_threads(a->threads);
    return run_eval(*a);
  };
}

}  // namespace afa::app
