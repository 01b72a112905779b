#include "afa/models/checkpoint.h"

#include "afa/models/autocast.h"
#include "afa/util/error.h"

namespace afa::models {

namespace {

// What the backward needs besides the inputs: the function and the autocast state it ran under. Held
// in an IValue capsule, the one slot of an autograd context that takes an arbitrary object.
struct Recompute : torch::CustomClassHolder {
  CheckpointFn fn;
  size_t num_inputs = 0;
  AutocastState autocast;
};

struct CheckpointFunction : torch::autograd::Function<CheckpointFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, c10::intrusive_ptr<Recompute> r,
                               at::TensorList inputs) {
    // Function::apply runs this with grad mode off: nothing inside is recorded.
    auto in = inputs.vec();
    ctx->save_for_backward(in);
    in.resize(r->num_inputs);  // without the stand-in
    auto out = r->fn(in);
    ctx->saved_data["recompute"] = at::IValue::make_capsule(std::move(r));
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    auto r = c10::static_intrusive_pointer_cast<Recompute>(ctx->saved_data["recompute"].toCapsule());
    std::vector<torch::Tensor> inputs;
    for (const auto& t : ctx->get_saved_variables()) inputs.push_back(t.detach().requires_grad_(t.requires_grad()));
    torch::Tensor out;
    {
      torch::AutoGradMode grad_on(true);
      AutocastGuard autocast(r->autocast);
      out = r->fn(std::vector<torch::Tensor>(inputs.begin(), inputs.begin() + int64_t(r->num_inputs)));
    }
    // Parameters inside fn accumulate their gradients here; the inputs' come back to the outer graph.
    if (out.requires_grad() && grad_out[0].defined()) torch::autograd::backward({out}, {grad_out[0]});
    torch::autograd::variable_list grads{torch::Tensor()};  // the function argument has none
    for (auto& t : inputs) grads.push_back(t.requires_grad() ? t.grad() : torch::Tensor());
    return grads;
  }
};

}  // namespace

torch::Tensor checkpoint(const CheckpointFn& fn, const std::vector<torch::Tensor>& inputs, bool params_need_grad) {
  if (!torch::GradMode::is_enabled()) return fn(inputs);
  bool inputs_need_grad = false;
  for (const auto& t : inputs) {
    AFA_CHECK(t.defined(), "checkpoint: undefined input tensor");
    inputs_need_grad = inputs_need_grad || t.requires_grad();
  }
  if (!inputs_need_grad && !params_need_grad) return fn(inputs);  // nothing to differentiate: no graph
  auto r = c10::make_intrusive<Recompute>();
  r->fn = fn;
  r->num_inputs = inputs.size();
  r->autocast = AutocastState::current();
  auto all = inputs;
  // autograd only calls a node whose inputs need gradients: a stand-in input makes it call this one
  // for the parameters' sake.
  if (!inputs_need_grad) all.push_back(torch::zeros({}, inputs.at(0).options()).requires_grad_(true));
  return CheckpointFunction::apply(r, at::TensorList(all));
}

}  // namespace afa::models
