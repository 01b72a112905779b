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
};

// --aggregator, --method and the --mf-* options.
void add_method_options(CLI::App& app, MethodArgs& args);
// Checks what CLI11 cannot (--mf-fuse's value) and fills args.method.
void resolve_method_options(MethodArgs& args);

}  // namespace afa::app
