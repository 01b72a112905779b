#include "afa/ensemble/make_denoiser.h"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "afa/ensemble/afa_ensemble.h"
#include "afa/util/error.h"

namespace afa::ensemble {

const std::vector<std::string>& method_names() {
  static const std::vector<std::string> names = {"single", "afa", "block-avg", "noise-avg", "magicfusion"};
  return names;
}

void prepare_method(MethodOptions& o, size_t n, double cfg_scale) {
  const bool has_aggregator = !o.aggregator.empty() || o.aggregators.has_value();
  if (o.method.empty()) o.method = has_aggregator ? "afa" : n > 1 ? "" : "single";
  AFA_CHECK(!o.method.empty(), n, " models need --aggregator PATH (AFA) or --method noise-avg|block-avg|magicfusion");
  const auto& names = method_names();
  AFA_CHECK(std::find(names.begin(), names.end(), o.method) != names.end(),
            "--method must be afa, noise-avg, block-avg or magicfusion (got '", o.method, "')");
  AFA_CHECK(o.method != "magicfusion" || cfg_scale > 1.0,
            "--method magicfusion blends guided noises: it needs --cfg-scale > 1");
  AFA_CHECK(o.method != "afa" || has_aggregator, "--method afa needs --aggregator PATH");
  AFA_CHECK(o.method == "afa" || !has_aggregator, "--aggregator is only used by --method afa");
  AFA_CHECK(o.method == "single" || n >= 2, "--method ", o.method, " needs at least two -m models");
  AFA_CHECK(!o.attention_maps || o.method == "afa", "--attn-maps needs the afa method (an --aggregator)");
  if (o.method == "afa" && !o.aggregators) o.aggregators = load_aggregators(o.aggregator);
}

std::unique_ptr<pipeline::Denoiser> make_denoiser(MethodOptions o, const std::vector<models::UNet2DConditionModel>& unets,
                                                  double cfg_scale) {
  prepare_method(o, unets.size(), cfg_scale);
  std::unique_ptr<pipeline::Denoiser> d;
  if (o.method == "single") {
    d = std::make_unique<pipeline::SingleUNet>(unets.at(0));
  } else if (o.method == "noise-avg") {
    d = std::make_unique<NoiseAverage>(unets);
  } else if (o.method == "block-avg") {
    d = std::make_unique<BlockAverage>(unets);
  } else if (o.method == "magicfusion") {
    d = std::make_unique<MagicFusion>(unets, o.magicfusion);
  } else {
    AggregatorSet set = std::move(*o.aggregators);
    set.to(unets.at(0)->device(), unets.at(0)->dtype());
    d = std::make_unique<AfaEnsemble>(unets, std::move(set), o.aggregator.empty() ? "aggregators" : o.aggregator);
  }
  if (o.attention_maps) d->record_attention_maps(true);
  return d;
}

std::vector<std::pair<std::string, std::string>> method_parameters(const MethodOptions& o) {
  std::vector<std::pair<std::string, std::string>> out;
  if (o.method.empty() || o.method == "single") return out;
  out.emplace_back("Ensemble", o.method);
  if (!o.aggregator.empty()) out.emplace_back("Aggregator", std::filesystem::path(o.aggregator).filename().string());
  if (o.method == "magicfusion") {
    const auto& mf = o.magicfusion;
    std::ostringstream s;
    s << "general " << mf.general << " fuse " << (mf.fuse_above ? "above" : "below") << " " << mf.threshold
      << " else " << mf.outside;
    if (!mf.temperatures.empty()) {
      s << " temperatures";
      for (double t : mf.temperatures) s << " " << t;
    }
    out.emplace_back("MagicFusion", s.str());
  }
  return out;
}

}  // namespace afa::ensemble
