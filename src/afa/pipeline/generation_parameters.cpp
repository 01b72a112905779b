#include "afa/pipeline/generation_parameters.h"

#include <sstream>

#include "afa/io/image.h"
#include "afa/schedulers/samplers.h"

namespace afa::pipeline {

std::string a1111_parameters(const GenerateOptions& o, const std::string& model_names,
                             const std::vector<std::pair<std::string, std::string>>& extra, int64_t batch_pos) {
  const auto* sampler = schedulers::find_sampler(o.sampler);
  std::ostringstream p;
  p << o.prompt << "\nNegative prompt: " << o.negative_prompt << "\nSteps: " << o.steps
    << ", Sampler: " << (sampler ? sampler->a1111_label : o.sampler) << ", CFG scale: " << o.cfg_scale
    << ", Seed: " << o.seed << ", Size: " << o.width << "x" << o.height << ", Model: " << model_names;
  for (const auto& [key, value] : extra) p << ", " << key << ": " << value;
  if (o.batch > 1) p << ", Batch size: " << o.batch << ", Batch pos: " << batch_pos;
  if (o.eta > 0) p << ", Eta: " << o.eta;
  p << ", Version: afa";
  return p.str();
}

std::vector<std::string> generation_pngs(const GenerateResult& result, const GenerateOptions& o,
                                         const std::string& model_names,
                                         const std::vector<std::pair<std::string, std::string>>& extra) {
  std::vector<std::string> out;
  for (int64_t i = 0; i < result.images.size(0); ++i)
    out.push_back(io::encode_png(io::to_uint8_image(result.images[i]),
                                 {{"parameters", a1111_parameters(o, model_names, extra, i)}}));
  return out;
}

}  // namespace afa::pipeline
