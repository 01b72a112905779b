// The ensemble method's options, the same for every command that runs an ensemble (generate, serve).
#include "afa/util/error.h"
#include "options.h"

namespace afa::app {

void add_method_options(CLI::App& app, MethodArgs& a) {
  app.add_option("--aggregator", a.method.aggregator, "AFA aggregator checkpoint (folder or .safetensors)");
  app.add_option("--method", a.method.method,
                 "ensemble method: afa (default with --aggregator), noise-avg, block-avg, magicfusion");
  auto& mf = a.method.magicfusion;
  a.mf_options = {
  app.add_option("--mf-general", mf.general, "MagicFusion: model whose unconditional noise is the saliency "
                 "reference (index of -m)")->capture_default_str(),
  app.add_option("--mf-temperature", mf.temperatures, "MagicFusion: saliency softmax temperature per model "
                 "(default 1 each)")->delimiter(','),
  app.add_option("--mf-threshold", mf.threshold, "MagicFusion: timestep (0-1000) where fusion starts or stops")
      ->capture_default_str(),
  app.add_option("--mf-fuse", a.mf_fuse, "MagicFusion: fuse at timesteps above (>=) or below (<) the threshold")
      ->capture_default_str(),
  app.add_option("--mf-outside", mf.outside, "MagicFusion: model used at the unfused timesteps (index of -m)")
      ->capture_default_str()};
}

void resolve_method_options(MethodArgs& a) {
  // Options that would do nothing are refused, the way --aggregator with noise-avg is.
  for (const CLI::Option* opt : a.mf_options)
    AFA_CHECK(opt->count() == 0 || a.method.method == "magicfusion", opt->get_name(),
              " applies only to --method magicfusion (the method here is ",
              a.method.method.empty() ? std::string(a.method.aggregator.empty() ? "single" : "afa") : a.method.method,
              ")");
  AFA_CHECK(a.mf_fuse == "above" || a.mf_fuse == "below", "--mf-fuse must be above or below (got '", a.mf_fuse, "')");
  a.method.magicfusion.fuse_above = a.mf_fuse == "above";
}

}  // namespace afa::app
