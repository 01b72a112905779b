#include "afa/merge/merger.h"

#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>

#include "afa/io/component.h"
#include "afa/io/safetensors_writer.h"
#include "afa/merge/recipe.h"
#include "afa/merge/weighted.h"
#include "afa/util/error.h"

namespace afa::merge {

namespace fs = std::filesystem;

Method parse_method(const std::string& name) {
  if (name == "weighted") return Method::kWeighted;
  if (name == "add-difference") return Method::kAddDifference;
  if (name == "ties") return Method::kTies;
  fail("--method: unknown merge method '", name, "' (expected weighted, add-difference or ties)");
}

const char* method_name(Method m) {
  switch (m) {
    case Method::kWeighted: return "weighted";
    case Method::kAddDifference: return "add-difference";
    case Method::kTies: return "ties";
  }
  return "?";
}

namespace {

bool is_float(torch::ScalarType t) { return torch::isFloatingType(t); }

int64_t numel(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (int64_t v : s) n *= v;
  return n;
}

// Shapes that hold the same tensor: equal, or equal but for trailing 1x1 (VAE attention stored as a
// Linear [C,C] by some tools and as a conv [C,C,1,1] by others).
bool same_tensor_shape(std::vector<int64_t> a, std::vector<int64_t> b) {
  while (a.size() > 2 && a.back() == 1) a.pop_back();
  while (b.size() > 2 && b.back() == 1) b.pop_back();
  return a == b;
}

torch::ScalarType parse_dtype(const std::string& d) {
  if (d == "f16" || d == "fp16" || d == "float16") return torch::kFloat16;
  if (d == "f32" || d == "fp32" || d == "float32") return torch::kFloat32;
  if (d == "bf16" || d == "bfloat16") return torch::kBFloat16;
  fail("--dtype: '", d, "' is not f16, f32 or bf16");
}

void check_options(const MergeOptions& o) {
  const size_t n = o.models.size();
  AFA_CHECK(n >= 1, "merge: give at least one model with -m");
  for (double a : o.alpha) AFA_CHECK(std::isfinite(a), "--alpha: ", a, " is not a finite number");
  switch (o.method) {
    case Method::kWeighted:
      if (o.block_weights) {
        AFA_CHECK(n == 2, "--block-weights with --method weighted needs exactly two models (-m A -m B), not ", n);
        AFA_CHECK(o.alpha.size() <= 1, "--alpha: one value with --block-weights (it is the BASE alpha)");
      } else if (o.alpha.size() > 1 || (n > 2 && !o.alpha.empty())) {
        AFA_CHECK(o.alpha.size() == n, "--alpha: ", o.alpha.size(), " values for ", n,
                  " models (give one weight per model, summing to 1", n == 2 ? ", or one alpha" : "", ")");
        double sum = 0;
        for (double a : o.alpha) sum += a;
        AFA_CHECK(std::abs(sum - 1.0) <= 1e-6, "--alpha: the ", n, " weights sum to ", sum, ", not 1");
      } else if (n == 1) {
        AFA_CHECK(o.alpha.empty(), "--alpha: one model has nothing to weight");
      }
      break;
    case Method::kAddDifference:
      AFA_CHECK(n == 3, "--method add-difference needs three models: A + alpha*(B - C), not ", n);
      AFA_CHECK(o.alpha.size() <= 1, "--alpha: add-difference takes one value");
      break;
    case Method::kTies:
      AFA_CHECK(n >= 2, "--method ties needs a base model and at least one more (-m BASE -m A ...)");
      AFA_CHECK(o.alpha.size() <= 1, "--alpha: ties takes one value (the scale lambda)");
      break;
  }
  AFA_CHECK(o.density > 0.0 && o.density <= 1.0, "--density must be in (0, 1], not ", o.density);
  AFA_CHECK(o.method == Method::kTies || (!o.dare && o.density == 1.0),
            "--density and --dare apply to --method ties only");
  if (!o.dtype.empty()) parse_dtype(o.dtype);
}

}  // namespace

Merger::Merger(MergeOptions options) : options_(std::move(options)) {
  check_options(options_);
  std::set<std::string> seen;
  for (const auto& p : options_.models) {
    inputs_.push_back(std::make_unique<ModelSource>(p));
    std::error_code ec;
    std::string canon = fs::weakly_canonical(p, ec).string();
    AFA_CHECK(seen.insert(ec ? p : canon).second, p, ": given twice with -m");
  }
  const ModelSource& first = *inputs_[0];

  // Compatibility: every model's weights have the same keys and shapes as the first's.
  std::vector<std::string> problems;
  auto problem = [&](std::string s) { problems.push_back(std::move(s)); };
  for (size_t m = 1; m < inputs_.size(); ++m) {
    const ModelSource& other = *inputs_[m];
    for (const auto& key : first.keys()) {
      if (!is_mergeable_key(key)) continue;
      if (!other.contains(key)) {
        problem(other.path() + " lacks '" + key + "'");
      } else if (!same_tensor_shape(first.shape(key), other.shape(key))) {
        problem("'" + key + "' is " + io::shape_str(first.shape(key)) + " in " + first.path() + " but " +
                io::shape_str(other.shape(key)) + " in " + other.path());
      }
    }
    for (const auto& key : other.keys())
      if (is_mergeable_key(key) && !first.contains(key)) problem(other.path() + " has '" + key + "', which " + first.path() + " lacks");
  }
  if (!problems.empty()) {
    std::string list;
    for (size_t i = 0; i < problems.size() && i < 6; ++i) list += (i ? "; " : "") + problems[i];
    if (problems.size() > 6) list += "; and " + std::to_string(problems.size() - 6) + " more";
    fail("the models do not share one architecture: ", list);
  }

  if (!options_.loras.empty()) {
    io::ShapeMap shapes;
    for (const auto& key : first.keys())
      if (io::ldm_component(key) && !io::is_ignorable_ldm_key(key)) shapes[key] = first.shape(key);
    lora_ = std::make_unique<LoraBaker>(options_.loras, shapes);
  }

  const bool cast = !options_.dtype.empty();
  const torch::ScalarType out_dtype = cast ? parse_dtype(options_.dtype) : torch::kFloat32;
  for (const auto& key : first.keys()) {
    PlannedTensor p;
    p.key = key;
    p.shape = first.shape(key);
    p.dtype = first.dtype(key);
    p.block = block_of_ldm_key(key, options_.block_map);
    bool all_float = true;
    for (const auto& in : inputs_) all_float = all_float && is_float(in->dtype(key));
    p.merged = inputs_.size() > 1 && is_mergeable_key(key) && all_float;
    p.lora = lora_ && lora_->touches(key);
    AFA_CHECK(!p.lora || is_float(p.dtype), first.path(), ": '", key, "' is not a float tensor; a LoRA cannot change it");
    if (cast && is_float(p.dtype)) p.dtype = out_dtype;
    plan_.push_back(std::move(p));
  }
}

Merger::~Merger() = default;

double Merger::alpha_for_block(int block) const {
  if (options_.block_weights) return options_.block_weights->alpha.at(block);
  if (options_.alpha.size() == 1) return options_.alpha[0];
  return options_.method == Method::kWeighted ? 0.5 : 1.0;
}

std::vector<double> Merger::weights_for(int block) const {
  const size_t n = inputs_.size();
  if (n == 2 && (options_.block_weights || options_.alpha.size() <= 1)) {
    double a = alpha_for_block(block);
    return {1.0 - a, a};
  }
  if (!options_.alpha.empty()) return options_.alpha;
  return std::vector<double>(n, 1.0 / static_cast<double>(n));
}

torch::Tensor Merger::compute(size_t i) const {
  const PlannedTensor& p = plan_.at(i);
  return p.shape.empty() ? compute_rows(i, 0, 1) : compute_rows(i, 0, p.shape[0]);
}

bool Merger::splittable(size_t i) const {
  const PlannedTensor& p = plan_.at(i);
  return !p.shape.empty() && !p.lora && (!p.merged || options_.method != Method::kTies || !options_.dare);
}

const std::vector<TrimThreshold>& Merger::ties_thresholds(size_t i) const {
  if (thresholds_of_ == i) return thresholds_;
  const PlannedTensor& p = plan_.at(i);
  const int64_t rows = p.shape[0], n = numel(p.shape), row_n = rows ? n / rows : 0;
  const int64_t step = std::max<int64_t>(1, (int64_t(1) << 22) / std::max<int64_t>(1, row_n));
  auto slab = [&](const ModelSource& in, int64_t r, int64_t e) {
    torch::Tensor t = in.get(p.key);
    if (t.sizes().vec() != p.shape) t = t.reshape(p.shape);
    return t.narrow(0, r, e - r).to(torch::kFloat32);
  };
  thresholds_.clear();
  thresholds_of_ = SIZE_MAX;
  torch::Tensor magnitudes = torch::empty({n}, torch::kFloat32);
  for (size_t m = 1; m < inputs_.size(); ++m) {
    for (int64_t r = 0; r < rows; r += step) {
      const int64_t e = std::min(rows, r + step);
      magnitudes.narrow(0, r * row_n, (e - r) * row_n).copy_((slab(*inputs_[m], r, e) - slab(*inputs_[0], r, e)).abs().flatten());
      inputs_[m]->release(p.key, r, e);
    }
    thresholds_.push_back(magnitude_threshold(magnitudes, options_.density));
  }
  thresholds_of_ = i;
  return thresholds_;
}

torch::Tensor Merger::compute_rows(size_t i, int64_t row_begin, int64_t row_end) const {
  const PlannedTensor& p = plan_.at(i);
  const bool whole = p.shape.empty() || (row_begin == 0 && row_end == p.shape[0]);
  AFA_CHECK(whole || splittable(i), "merge: '", p.key, "' cannot be computed in parts");
  // The rows of one input, as float32 (or stored) views of its mapping.
  auto rows = [&](const ModelSource& in) {
    torch::Tensor t = in.get(p.key);
    if (t.sizes().vec() != p.shape) t = t.reshape(p.shape);
    return whole ? t : t.narrow(0, row_begin, row_end - row_begin);
  };
  const ModelSource& first = *inputs_[0];
  if (!p.merged && !p.lora) return rows(first).to(p.dtype);
  std::vector<torch::Tensor> xs;
  if (p.merged) {
    for (const auto& in : inputs_) xs.push_back(rows(*in).to(torch::kFloat32));
  } else {
    xs.push_back(rows(first).to(torch::kFloat32));
  }
  torch::Tensor out;
  if (!p.merged) {
    out = xs[0];
  } else {
    switch (options_.method) {
      case Method::kWeighted: out = weighted_sum(xs, weights_for(p.block)); break;
      case Method::kAddDifference: out = add_difference(xs[0], xs[1], xs[2], alpha_for_block(p.block)); break;
      case Method::kTies: {
        if (!whole) {
          out = ties_merge_thresholded(xs[0], std::vector<torch::Tensor>(xs.begin() + 1, xs.end()), ties_thresholds(i),
                                       alpha_for_block(p.block));
          break;
        }
        TiesOptions t;
        t.density = options_.density;
        t.lambda = alpha_for_block(p.block);
        t.dare = options_.dare;
        t.seed = options_.seed;
        out = ties_merge(xs[0], std::vector<torch::Tensor>(xs.begin() + 1, xs.end()), t, p.key);
        break;
      }
    }
  }
  if (p.lora) lora_->apply(p.key, out);
  return out.to(p.dtype).contiguous();
}

void Merger::release(size_t i) const {
  for (const auto& in : inputs_)
    if (in->contains(plan_.at(i).key)) in->release(plan_[i].key);
}

void Merger::release_rows(size_t i, int64_t row_begin, int64_t row_end) const {
  for (const auto& in : inputs_)
    if (in->contains(plan_.at(i).key)) in->release(plan_[i].key, row_begin, row_end);
}

std::map<std::string, std::string> Merger::metadata() const { return merge_metadata(*this); }

void merge_to_file(const Merger& m, const std::string& output, const ProgressFn& progress, int64_t slab) {
  std::error_code ec;
  const fs::path out_canon = fs::weakly_canonical(output, ec);
  auto same = [&](const std::string& p) {
    std::error_code e1, e2;
    if (fs::exists(output, e1) && fs::exists(p, e2)) return fs::equivalent(output, p, e1);
    return !ec && fs::weakly_canonical(p, e2) == out_canon;
  };
  for (const auto& in : m.options().models) AFA_CHECK(!same(in), output, ": is an input (-m ", in, "); choose another -o");
  for (const auto& l : m.options().loras) AFA_CHECK(!same(l.path), output, ": is an input (--lora ", l.path, ")");
  AFA_CHECK(!fs::is_directory(output), output, ": is a folder; -o takes a .safetensors file name");

  std::vector<io::SafeTensorsWriter::Entry> entries;
  for (const auto& p : m.plan()) entries.push_back({p.key, p.dtype, p.shape});
  io::SafeTensorsWriter writer(output, std::move(entries), m.metadata());
  const size_t total = m.plan().size();
  for (size_t i = 0; i < total; ++i) {
    const PlannedTensor& p = m.plan()[i];
    const int64_t n = numel(p.shape);
    if (m.splittable(i) && n > slab && p.shape[0] > 1) {
      const int64_t rows = p.shape[0], step = std::max<int64_t>(1, slab / std::max<int64_t>(1, n / rows));
      for (int64_t r = 0; r < rows; r += step) {
        const int64_t e = std::min(rows, r + step);
        writer.append_rows(p.key, m.compute_rows(i, r, e));
        m.release_rows(i, r, e);
      }
    } else {
      writer.write(p.key, m.compute(i));
      m.release(i);
    }
    if (progress) progress(i + 1, total);
  }
  writer.commit();
}

std::map<std::string, torch::Tensor> merge_in_memory(const Merger& m) {
  std::map<std::string, torch::Tensor> out;
  for (size_t i = 0; i < m.plan().size(); ++i) out.emplace(m.plan()[i].key, m.compute(i));
  return out;
}

}  // namespace afa::merge
