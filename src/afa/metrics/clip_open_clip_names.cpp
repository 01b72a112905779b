#include "afa/metrics/clip_open_clip_names.h"

#include <utility>
#include <vector>

#include "afa/util/error.h"

namespace afa::metrics {

namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// Whole-name renames (tensors outside the transformer blocks).
const std::vector<std::pair<std::string, std::string>> kPlain = {
    {"visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight"},
    {"visual.class_embedding", "vision_model.embeddings.class_embedding"},
    {"visual.positional_embedding", "vision_model.embeddings.position_embedding.weight"},
    {"visual.ln_pre.weight", "vision_model.pre_layrnorm.weight"},
    {"visual.ln_pre.bias", "vision_model.pre_layrnorm.bias"},
    {"visual.ln_post.weight", "vision_model.post_layernorm.weight"},
    {"visual.ln_post.bias", "vision_model.post_layernorm.bias"},
    {"token_embedding.weight", "text_model.embeddings.token_embedding.weight"},
    {"positional_embedding", "text_model.embeddings.position_embedding.weight"},
    {"ln_final.weight", "text_model.final_layer_norm.weight"},
    {"ln_final.bias", "text_model.final_layer_norm.bias"},
    {"logit_scale", "logit_scale"},
};

// Renames inside one residual block, after "resblocks.N.".
const std::vector<std::pair<std::string, std::string>> kBlock = {
    {"attn.out_proj.weight", "self_attn.out_proj.weight"},
    {"attn.out_proj.bias", "self_attn.out_proj.bias"},
    {"ln_1.weight", "layer_norm1.weight"},
    {"ln_1.bias", "layer_norm1.bias"},
    {"ln_2.weight", "layer_norm2.weight"},
    {"ln_2.bias", "layer_norm2.bias"},
    {"mlp.c_fc.weight", "mlp.fc1.weight"},
    {"mlp.c_fc.bias", "mlp.fc1.bias"},
    {"mlp.c_proj.weight", "mlp.fc2.weight"},
    {"mlp.c_proj.bias", "mlp.fc2.bias"},
};

// "visual.transformer.resblocks.N.rest" / "transformer.resblocks.N.rest" -> HF layer prefix and rest.
bool split_block(const std::string& name, std::string& layer_prefix, std::string& rest) {
  for (const auto& [oc, hf] :
       {std::pair<std::string, std::string>{"visual.transformer.resblocks.", "vision_model.encoder.layers."},
        std::pair<std::string, std::string>{"transformer.resblocks.", "text_model.encoder.layers."}}) {
    if (!starts_with(name, oc)) continue;
    const auto dot = name.find('.', oc.size());
    if (dot == std::string::npos) return false;
    layer_prefix = hf + name.substr(oc.size(), dot - oc.size()) + ".";
    rest = name.substr(dot + 1);
    return true;
  }
  return false;
}

}  // namespace

bool is_open_clip_naming(const io::StateDict& sd) { return sd.count("visual.conv1.weight") > 0; }

io::StateDict open_clip_to_hf_names(const io::StateDict& sd, const std::string& source) {
  io::StateDict out;
  for (const auto& [name, t] : sd) {
    if (name == "visual.proj") {
      out["visual_projection.weight"] = t.t().contiguous();
      continue;
    }
    if (name == "text_projection") {
      out["text_projection.weight"] = t.t().contiguous();
      continue;
    }
    if (name == "attn_mask") continue;  // a buffer in some open_clip versions; the model builds its own
    bool done = false;
    for (const auto& [oc, hf] : kPlain)
      if (name == oc) {
        out[hf] = t;
        done = true;
      }
    std::string prefix, rest;
    if (!done && split_block(name, prefix, rest)) {
      if (rest == "attn.in_proj_weight" || rest == "attn.in_proj_bias") {
        AFA_CHECK(t.dim() >= 1 && t.size(0) % 3 == 0, "open_clip checkpoint ", source, ": ", name, " has shape ",
                  t.sizes(), ", not three stacked projections");
        const auto qkv = t.chunk(3, 0);  // open_clip's order: q, k, v
        const std::string kind = rest == "attn.in_proj_weight" ? "weight" : "bias";
        out[prefix + "self_attn.q_proj." + kind] = qkv[0].contiguous();
        out[prefix + "self_attn.k_proj." + kind] = qkv[1].contiguous();
        out[prefix + "self_attn.v_proj." + kind] = qkv[2].contiguous();
        done = true;
      }
      for (const auto& [oc, hf] : kBlock)
        if (rest == oc) {
          out[prefix + hf] = t;
          done = true;
        }
    }
    AFA_CHECK(done, "open_clip checkpoint ", source, ": unknown tensor ", name,
              " (expected open_clip's CLIP names: visual.*, transformer.resblocks.*, token_embedding, ...)");
  }
  return out;
}

}  // namespace afa::metrics
