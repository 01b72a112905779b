// Option helpers shared by the subcommands: device/dtype parsing, thread setup, the ensemble method.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "afa/ensemble/make_denoiser.h"
#include "afa/util/device.h"
#include "afa/util/error.h"
#include "afa/util/threads.h"

namespace afa::app {

using afa::parse_device;
using afa::parse_dtype;

struct MethodArgs {
  ensemble::MethodOptions method;
  std::string mf_fuse = "above";
  std::vector<const CLI::Option*> mf_options;  // to refuse them with another method, as --aggregator is
};

// --aggregator, --method and the --mf-* options.
void add_method_options(CLI::App& app, MethodArgs& args);
// Checks what CLI11 cannot (--mf-fuse's value; --mf-* only with magicfusion) and fills args.method.
void resolve_method_options(MethodArgs& args);

}  // namespace afa::app
