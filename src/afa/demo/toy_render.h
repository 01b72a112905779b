// Drawing a toy scene: every pixel is the mean of 4x4 sub-samples (anti-aliasing), each the colour of
// the topmost object covering it or of the background there.
#pragma once

#include <torch/types.h>

#include "afa/demo/toy_world.h"

namespace afa::demo {

// Object radii in grid cells (before the scene's scale jitter); a large object still fits its cell.
constexpr double kSmallRadius = 0.22, kLargeRadius = 0.40;

// Whether the point (x, y), in units of the object's radius from its centre (y pointing down), lies
// inside the shape; every shape fits within the unit circle.
bool shape_contains(int shape, double x, double y);

// The object's centre in image units ([0, 1] both ways, y down) and its radius in image units.
void object_geometry(const ToyObject& o, double& cx, double& cy, double& radius);

// uint8 [size, size, 3] RGB.
torch::Tensor render(const ToyScene& scene, int size);

}  // namespace afa::demo
