// Option helpers shared by the subcommands: device/dtype parsing and thread setup.
#pragma once

#include "afa/util/device.h"
#include "afa/util/error.h"
#include "afa/util/threads.h"

namespace afa::app {

using afa::parse_device;
using afa::parse_dtype;

}  // namespace afa::app
