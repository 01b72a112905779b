#include "afa/models/layers.h"

#include <sys/mman.h>

#include <cmath>
#include <cstdlib>
#include <variant>

#include "afa/util/error.h"

namespace afa::models {

namespace {

thread_local bool skip_init = false;

// An uninitialised float32 parameter. Large ones (>= 4 MB: SD 1.5's convolutions, projections and token
// embedding) on 2 MB-aligned memory advised for transparent huge pages: the load then writes every page
// once, and 4 KB pages cost one page fault each (on this VM about a fifth of loading).
torch::Tensor uninitialised(at::IntArrayRef sizes) {
  constexpr size_t kHuge = size_t(2) << 20;
  const int64_t numel = c10::multiply_integers(sizes);
  const size_t bytes = size_t(numel) * sizeof(float);
  if (bytes < 2 * kHuge) return torch::empty(sizes);
  const size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
  void* p = std::aligned_alloc(kHuge, rounded);
  if (!p) return torch::empty(sizes);
#ifdef MADV_HUGEPAGE
  madvise(p, rounded, MADV_HUGEPAGE);  // advice only: without THP the pages are ordinary ones
#endif
  return torch::from_blob(p, sizes, [](void* q) { std::free(q); }, torch::kFloat32);
}

torch::Tensor new_parameter(at::IntArrayRef sizes) { return skip_init ? uninitialised(sizes) : torch::empty(sizes); }

// Conv*d's and Linear's "weight" and "bias" ("bias" registered undefined without one, as torch::nn does).
void register_weight_and_bias(torch::nn::Module& m, torch::Tensor& weight, torch::Tensor& bias,
                              at::IntArrayRef weight_sizes, int64_t out, bool with_bias) {
  weight = m.register_parameter("weight", new_parameter(weight_sizes));
  bias = with_bias ? m.register_parameter("bias", new_parameter({out}))
                   : m.register_parameter("bias", torch::Tensor(), /*requires_grad=*/false);
}

// torch::nn's default for Conv*d and Linear weights and biases.
void kaiming_then_bias(torch::Tensor& weight, torch::Tensor& bias) {
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const int64_t fan_in = std::get<0>(torch::nn::init::_calculate_fan_in_and_fan_out(weight));
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    torch::nn::init::uniform_(bias, -bound, bound);
  }
}

}  // namespace

SkipInitGuard::SkipInitGuard() : previous_(skip_init) { skip_init = true; }
SkipInitGuard::~SkipInitGuard() { skip_init = previous_; }
bool SkipInitGuard::active() { return skip_init; }

Conv2dImpl::Conv2dImpl(torch::nn::Conv2dOptions options_) : options(std::move(options_)) { reset(); }

// The explicit padding sizes; libtorch 1.13's options hold c10::variant, 2.x's std::variant (found by ADL).
const torch::ExpandingArray<2>* explicit_padding(const torch::nn::Conv2dOptions& o) {
  using std::get_if;
  return get_if<torch::ExpandingArray<2>>(&o.padding());
}

void Conv2dImpl::reset() {
  using std::get_if;
  AFA_CHECK(explicit_padding(options) && get_if<torch::enumtype::kZeros>(&options.padding_mode()),
            "afa Conv2d: only zero padding by explicit sizes");
  AFA_CHECK(options.in_channels() % options.groups() == 0 && options.out_channels() % options.groups() == 0,
            "afa Conv2d: channels not divisible by groups");
  const auto& k = options.kernel_size();
  register_weight_and_bias(*this, weight, bias,
                           {options.out_channels(), options.in_channels() / options.groups(), (*k)[0], (*k)[1]},
                           options.out_channels(), options.bias());
  if (!skip_init) reset_parameters();
}

void Conv2dImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  kaiming_then_bias(weight, bias);
}

torch::Tensor Conv2dImpl::forward(const torch::Tensor& input) {
  return torch::conv2d(input, weight, bias, options.stride(), *explicit_padding(options), options.dilation(),
                       options.groups());
}

LinearImpl::LinearImpl(torch::nn::LinearOptions options_) : options(std::move(options_)) { reset(); }

void LinearImpl::reset() {
  register_weight_and_bias(*this, weight, bias, {options.out_features(), options.in_features()},
                           options.out_features(), options.bias());
  if (!skip_init) reset_parameters();
}

void LinearImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  kaiming_then_bias(weight, bias);
}

torch::Tensor LinearImpl::forward(const torch::Tensor& input) { return torch::linear(input, weight, bias); }

EmbeddingImpl::EmbeddingImpl(torch::nn::EmbeddingOptions options_) : options(std::move(options_)) { reset(); }

void EmbeddingImpl::reset() {
  AFA_CHECK(!options.max_norm() && !options.sparse() && !options._weight().defined(),
            "afa Embedding: max_norm, sparse and _weight are not supported");
  if (auto& pad = options.padding_idx(); pad && *pad < 0) pad = *pad + options.num_embeddings();
  weight = register_parameter("weight", new_parameter({options.num_embeddings(), options.embedding_dim()}));
  if (!skip_init) reset_parameters();
}

void EmbeddingImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  torch::nn::init::normal_(weight);
  if (options.padding_idx()) weight[*options.padding_idx()].fill_(0);
}

torch::Tensor EmbeddingImpl::forward(const torch::Tensor& indices) {
  return torch::embedding(weight, indices, options.padding_idx().value_or(-1), options.scale_grad_by_freq(),
                          options.sparse());
}

}  // namespace afa::models
