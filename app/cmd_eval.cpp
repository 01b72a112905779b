// afa eval: image-set metrics, computed as their reference implementations compute them.
//   afa eval --images DIR [--reference DIR] --metrics fid,is [--weights DIR] [-o report.json]
//     fid  pytorch-fid 0.3.0: pool3 features of its FID Inception (bilinear resize to 299), Fréchet
//          distance of the two folders' Gaussians; needs --reference.
//     is   torch-fidelity 0.4.0: 1008-class logits without the fc bias (TF1-style resize), 10 splits,
//          rows shuffled with numpy's RandomState(2020).
// Both use pt_inception-2015-12-05.safetensors from the weights folder.
#include <iostream>
#include <memory>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "afa/metrics/frechet_distance.h"
#include "afa/metrics/image_folder.h"
#include "afa/metrics/inception_preprocess.h"
#include "afa/metrics/inception_score.h"
#include "afa/metrics/inception_v3.h"
#include "afa/metrics/metric_weights.h"
#include "afa/util/atomic_file.h"
#include "afa/util/error.h"
#include "commands.h"
#include "options.h"

namespace afa::app {

namespace {

struct EvalArgs {
  std::string images, reference, metrics = "fid,is", weights, output, device = "cpu";
  int64_t batch_size = 50;  // pytorch-fid's default
  int64_t splits = 10;
  int threads = 0;
  bool quiet = false;
};

std::set<std::string> parse_metrics(const std::string& list) {
  std::set<std::string> out;
  std::stringstream ss(list);
  std::string m;
  while (std::getline(ss, m, ',')) {
    if (m.empty()) continue;
    AFA_CHECK(m == "fid" || m == "is", "--metrics: unknown metric '", m, "' (known: fid, is)");
    out.insert(m);
  }
  AFA_CHECK(!out.empty(), "--metrics: name at least one metric (fid, is)");
  return out;
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

int run_eval(const EvalArgs& a) {
  const auto wanted = parse_metrics(a.metrics);
  const bool fid = wanted.count("fid") != 0, is = wanted.count("is") != 0;
  AFA_CHECK(!a.images.empty(), "eval needs --images DIR");
  AFA_CHECK(!fid || !a.reference.empty(), "--metrics fid needs --reference DIR (the real images to compare with)");
  AFA_CHECK(fid || a.reference.empty(), "--reference is used by fid only; add fid to --metrics");
  AFA_CHECK(a.splits >= 1, "--splits must be at least 1");
  if (!a.output.empty()) check_output_file(a.output, "-o");
  const auto device = parse_device(a.device);
  // Everything the user can get wrong is checked before the slow part.
  const std::string needed_by = fid && is ? "FID and IS" : fid ? "FID" : "IS";
  const std::string weights =
      metrics::require_weights_file(metrics::weights_folder(a.weights), metrics::kFidInceptionWeights, needed_by);
  const auto files = metrics::list_image_files(a.images);
  std::vector<std::string> ref_files;
  if (fid) ref_files = metrics::list_image_files(a.reference);
  AFA_CHECK(!fid || (files.size() >= 2 && ref_files.size() >= 2), "FID needs at least 2 images in each folder (",
            a.images, ": ", files.size(), ", ", a.reference, ": ", ref_files.size(), ")");
  AFA_CHECK(!is || int64_t(files.size()) >= a.splits, "IS in ", a.splits, " splits needs at least ", a.splits,
            " images; ", a.images, " has ", files.size());

  auto model = metrics::load_fid_inception(weights, device);
  nlohmann::ordered_json report{{"images", a.images}, {"count", files.size()}};
  if (!a.quiet) std::cerr << a.images << ": " << files.size() << " images\n";
  const auto feats = folder_features(model, files, fid, is, a.batch_size, device, a.quiet);
  if (fid) {
    if (!a.quiet) std::cerr << a.reference << ": " << ref_files.size() << " images\n";
    const auto ref = folder_features(model, ref_files, true, false, a.batch_size, device, a.quiet);
    const auto t = metrics::frechet_terms(metrics::fit_gaussian(feats.pool3), metrics::fit_gaussian(ref.pool3));
    report["reference"] = a.reference;
    report["reference_count"] = ref_files.size();
    report["fid"] = t.distance;
    report["fid_terms"] = {{"mean_term", t.mean_term}, {"trace_images", t.trace_a}, {"trace_reference", t.trace_b},
                           {"trace_sqrt_product", t.trace_sqrt_product}};
    // Fewer images than feature dimensions: singular covariances, FID biased upwards (pytorch-fid warns too).
    if (!a.quiet && (files.size() < 2048 || ref_files.size() < 2048))
      std::cerr << "note: FID from fewer than 2048 images per set is biased and not comparable across set sizes\n";
  }
  if (is) {
    metrics::InceptionScoreOptions o;
    o.splits = a.splits;
    const auto r = metrics::inception_score(feats.logits_unbiased, o);
    report["inception_score"] = {{"mean", r.mean}, {"std", r.std}, {"splits", o.splits},
                                 {"split_scores", r.split_scores}};
  }
  report["weights"] = weights;
  report["reference_implementations"] = {{"fid", "pytorch-fid 0.3.0 (pool3, bilinear resize to 299)"},
                                         {"is", "torch-fidelity 0.4.0 (logits_unbiased, TF1 resize, seed 2020)"}};
  if (!fid) report["reference_implementations"].erase("fid");
  if (!is) report["reference_implementations"].erase("is");
  const std::string text = report.dump(2) + "\n";
  if (!a.output.empty()) {
    write_text_atomic(a.output, text);
    if (!a.quiet) std::cerr << "wrote " << a.output << "\n";
  } else {
    std::cout << text;
  }
  return 0;
}

}  // namespace

Run add_eval(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  app.add_option("--images", a->images, "folder of generated images (.png, .jpg; not recursive)");
  app.add_option("--reference", a->reference, "folder of real images to compare with (fid)");
  app.add_option("--metrics", a->metrics, "comma-separated: fid, is")->capture_default_str();
  app.add_option("--weights", a->weights,
                 "folder of metric weights (default: $AFA_WEIGHTS or ~/.cache/afa/weights), holding "
                 "pt_inception-2015-12-05.safetensors");
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
