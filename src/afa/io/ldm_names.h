// The parameter tables of SD's three models: for every weight, its diffusers name, its name in an
// LDM (CompVis) single file, and its shape, derived from the component's diffusers config (block
// counts, channels, which blocks have attention), never from fixed SD 1.5 counts. One table serves
// both directions: LDM -> diffusers when loading single files, diffusers -> LDM when writing them.
//
// LDM layout, in brief (the U-Net's input/output blocks are numbered flat, one per resnet):
//   model.diffusion_model.input_blocks.0.0            <-> conv_in
//   model.diffusion_model.time_embed.{0,2}            <-> time_embedding.linear_{1,2}
//   model.diffusion_model.input_blocks.N.{0,1}        <-> down_blocks.i.{resnets,attentions}.j
//   model.diffusion_model.input_blocks.N.0.op         <-> down_blocks.i.downsamplers.0.conv
//   model.diffusion_model.middle_block.{0,1,2}        <-> mid_block.{resnets.0,attentions.0,resnets.1}
//   model.diffusion_model.output_blocks.N.{0,1}       <-> up_blocks.i.{resnets,attentions}.j
//   model.diffusion_model.output_blocks.N.{1|2}.conv  <-> up_blocks.i.upsamplers.0.conv
//   model.diffusion_model.out.{0,2}                   <-> conv_norm_out, conv_out
//   resnets: in_layers.{0,2} emb_layers.1 out_layers.{0,3} skip_connection
//        <-> norm1 conv1 time_emb_proj norm2 conv2 conv_shortcut
//   first_stage_model.{encoder.down.i, decoder.up.(n-1-i)}.block.j <-> {encoder.down,decoder.up}_blocks.i.resnets.j
//   first_stage_model.*.mid.{block_1,attn_1,block_2}  <-> *.mid_block.{resnets.0,attentions.0,resnets.1}
//   VAE attention norm/q/k/v/proj_out [C,C,1,1]       <-> group_norm/to_q/to_k/to_v/to_out.0 [C,C]
//   VAE nin_shortcut, norm_out                        <-> conv_shortcut, conv_norm_out
//   cond_stage_model.transformer.text_model.*         <-> text_model.*
#pragma once

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "afa/io/component.h"

namespace afa::io {

// Where each component lives in an LDM single file.
inline constexpr const char* kLdmUNetPrefix = "model.diffusion_model.";
inline constexpr const char* kLdmVaePrefix = "first_stage_model.";
inline constexpr const char* kLdmTextPrefix = "cond_stage_model.transformer.";
const char* ldm_prefix(Component c);

struct ParamEntry {
  std::string diffusers;        // name inside the component: "conv_in.weight"
  std::string ldm;              // full single-file name: "model.diffusion_model.input_blocks.0.0.weight"
  std::vector<int64_t> shape;   // the diffusers shape
  bool ldm_conv1x1 = false;     // LDM keeps this Linear weight as a 1x1 conv: shape + {1, 1}
};
using ParamTable = std::vector<ParamEntry>;

// The tables, in module order. The config is a diffusers/transformers config (missing keys take the
// class defaults). Throws afa::Error for configs these models do not support (other block types,
// class embeddings, ...); `source` names the config's origin in messages.
ParamTable unet_params(const nlohmann::json& config, const std::string& source = "");
ParamTable vae_params(const nlohmann::json& config, const std::string& source = "");
ParamTable text_encoder_params(const nlohmann::json& config, const std::string& source = "");
ParamTable component_params(Component c, const nlohmann::json& config, const std::string& source = "");

std::vector<int64_t> ldm_shape(const ParamEntry& e);
// Whether a stored LDM tensor has the entry's shape. Some tools save the VAE attention already as
// Linear [C,C]; diffusers' converter accepts that too, and so does this.
bool ldm_shape_matches(const ParamEntry& e, const std::vector<int64_t>& stored);
// Reshapes between the two layouts; views, no copies.
torch::Tensor ldm_to_diffusers(const ParamEntry& e, const torch::Tensor& t);
torch::Tensor diffusers_to_ldm(const ParamEntry& e, const torch::Tensor& t);

// The component an LDM key belongs to by its prefix; nullopt for keys of no component.
std::optional<Component> ldm_component(const std::string& name);

// Older transformers saved the text model without "text_model."; returns the name with it.
std::string canonical_ldm_name(const std::string& name);

// Keys of single files that hold nothing a diffusers model uses: text position_ids, EMA copies
// (model_ema.*), DDPM schedule buffers (betas, alphas_cumprod, ...), num_batches_tracked, the VAE's
// training loss (first_stage_model.loss.*).
bool is_ignorable_ldm_key(const std::string& name);
// The same for diffusers folders (position_ids that transformers < 4.31 saved, num_batches_tracked).
bool is_ignorable_diffusers_key(const std::string& name);

// A component's diffusers tensors under their LDM names, in table order, ready for save_safetensors.
// Strict: a missing or extra tensor, or a wrong shape, is an afa::Error naming `source`.
std::vector<std::pair<std::string, torch::Tensor>> to_ldm_tensors(
    Component c, const nlohmann::json& config, const std::map<std::string, torch::Tensor>& tensors,
    const std::string& source);

}  // namespace afa::io
