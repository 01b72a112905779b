// The demo's toy world: one or two simple objects (shape, colour, size, one of 9 grid cells) on a
// background (kind and colour), drawn from a seeded PRNG that gives the same scenes on every machine,
// and described by exactly one caption ("a small red circle at the top left and a large blue square at
// the bottom right on a striped grey background"), which parse_caption() reads back.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace afa::demo {

// The world's vocabulary. Indices into these lists are the attribute values (and the classifier's classes).
const std::vector<std::string>& shape_names();       // circle square triangle star ring cross
const std::vector<std::string>& colour_names();      // red orange yellow green blue purple white black
const std::vector<std::string>& size_names();        // small large
const std::vector<std::string>& position_names();    // top left, top, top right, left, center, ... (row major)
const std::vector<std::string>& background_names();  // plain gradient striped noisy (caption adjectives)
const std::vector<std::string>& background_colour_names();  // grey brown teal pink

struct Rgb {
  uint8_t r, g, b;
};
Rgb colour_rgb(int colour);
Rgb background_rgb(int background_colour);

constexpr int kGrid = 3;  // positions are the cells of a kGrid x kGrid grid, row major from the top left

struct ToyObject {
  int shape = 0, colour = 0, size = 0, position = 0;
  // Unnamed variation, in units of a grid cell: centre offset and relative scale (drawing only).
  double dx = 0, dy = 0, scale = 1;
  bool operator==(const ToyObject& o) const {
    return shape == o.shape && colour == o.colour && size == o.size && position == o.position;
  }
};

struct ToyScene {
  std::vector<ToyObject> objects;  // 1 or 2, in reading order of their positions (distinct)
  int background = 0, background_colour = 0;
  uint64_t texture_seed = 0;       // the noisy background's pattern
  // Equality of what the caption says (jitter and texture excluded).
  bool same_attributes(const ToyScene& o) const {
    return objects == o.objects && background == o.background && background_colour == o.background_colour;
  }
};

// splitmix64: a tiny PRNG whose output is the same everywhere (std distributions are not).
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next();
  int below(int n);        // uniform in [0, n), n <= 2^31 (multiply-shift; bias < 2^-32)
  double uniform();        // in [0, 1), 53 bits
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

 private:
  uint64_t state_;
};

// The seed of scene `index` of a run with seed `seed` (so scenes are independent of each other).
uint64_t scene_seed(uint64_t seed, uint64_t index);

// A random scene: one or two objects (equally likely) at distinct positions, every attribute uniform.
ToyScene sample_scene(uint64_t scene_seed);

// The caption of a scene; parse_caption(caption(s)) has the same attributes as s.
std::string caption(const ToyScene& scene);
// Reads a caption in caption()'s grammar (extra spaces and case ignored); nullopt when it is not one.
std::optional<ToyScene> parse_caption(const std::string& text);

// Every word a caption can contain (the toy tokenizer's vocabulary), in a fixed order.
std::vector<std::string> caption_words();

// The machine-readable record stored beside the caption:
//   {"objects": [{"shape": "circle", "colour": "red", "size": "small", "position": "top left"}, ...],
//    "background": "striped", "background_colour": "grey"}
nlohmann::json attributes_json(const ToyScene& scene);
// The inverse of attributes_json (names checked); throws afa::Error naming `where` on a bad record.
ToyScene scene_from_json(const nlohmann::json& j, const std::string& where);

}  // namespace afa::demo
