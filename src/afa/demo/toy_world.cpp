#include "afa/demo/toy_world.h"

#include <algorithm>
#include <cctype>
#include <sstream>

#include "afa/util/error.h"

namespace afa::demo {

const std::vector<std::string>& shape_names() {
  static const std::vector<std::string> v{"circle", "square", "triangle", "star", "ring", "cross"};
  return v;
}
const std::vector<std::string>& colour_names() {
  static const std::vector<std::string> v{"red", "orange", "yellow", "green", "blue", "purple", "white", "black"};
  return v;
}
const std::vector<std::string>& size_names() {
  static const std::vector<std::string> v{"small", "large"};
  return v;
}
const std::vector<std::string>& position_names() {
  static const std::vector<std::string> v{"top left", "top",    "top right",   "left",        "center",
                                          "right",    "bottom left", "bottom", "bottom right"};
  return v;
}
const std::vector<std::string>& background_names() {
  static const std::vector<std::string> v{"plain", "gradient", "striped", "noisy"};
  return v;
}
const std::vector<std::string>& background_colour_names() {
  static const std::vector<std::string> v{"grey", "brown", "teal", "pink"};
  return v;
}

// Saturated object colours, far apart in RGB; the background colours are mid-tones, so that white,
// black and every hue stand out on all of them.
Rgb colour_rgb(int c) {
  static const Rgb t[] = {{220, 30, 30},  {255, 140, 0},  {250, 220, 20},  {30, 160, 50},
                          {30, 80, 230},  {140, 40, 190}, {250, 250, 250}, {15, 15, 15}};
  AFA_CHECK(c >= 0 && c < 8, "toy colour index ", c, " out of range");
  return t[c];
}
Rgb background_rgb(int c) {
  static const Rgb t[] = {{128, 128, 128}, {125, 85, 55}, {40, 120, 120}, {200, 125, 155}};
  AFA_CHECK(c >= 0 && c < 4, "toy background colour index ", c, " out of range");
  return t[c];
}

uint64_t SplitMix64::next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

int SplitMix64::below(int n) {
  AFA_CHECK(n > 0, "SplitMix64::below(", n, ")");
  return static_cast<int>(((next() >> 32) * static_cast<uint64_t>(n)) >> 32);
}

double SplitMix64::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

uint64_t scene_seed(uint64_t seed, uint64_t index) {
  SplitMix64 a(seed);
  SplitMix64 b(a.next() ^ (index * 0xD1B54A32D192ED03ull));
  return b.next();
}

ToyScene sample_scene(uint64_t seed) {
  SplitMix64 rng(seed);
  ToyScene s;
  const int n = 1 + rng.below(2);
  int first = rng.below(kGrid * kGrid);
  int second = rng.below(kGrid * kGrid - 1);
  if (second >= first) ++second;  // distinct cells
  std::vector<int> cells{first};
  if (n == 2) cells.push_back(second);
  std::sort(cells.begin(), cells.end());
  for (int cell : cells) {
    ToyObject o;
    o.position = cell;
    o.shape = rng.below(static_cast<int>(shape_names().size()));
    o.colour = rng.below(static_cast<int>(colour_names().size()));
    o.size = rng.below(static_cast<int>(size_names().size()));
    // Jitter small enough that an object stays inside its cell (see toy_render's radii).
    o.scale = rng.uniform(0.92, 1.08);
    const double slack = o.size == 0 ? 0.12 : 0.03;
    o.dx = rng.uniform(-slack, slack);
    o.dy = rng.uniform(-slack, slack);
    s.objects.push_back(o);
  }
  s.background = rng.below(static_cast<int>(background_names().size()));
  s.background_colour = rng.below(static_cast<int>(background_colour_names().size()));
  s.texture_seed = rng.next();
  return s;
}

std::string caption(const ToyScene& s) {
  std::string out;
  for (size_t i = 0; i < s.objects.size(); ++i) {
    const auto& o = s.objects[i];
    if (i) out += " and ";
    out += "a " + size_names().at(o.size) + " " + colour_names().at(o.colour) + " " + shape_names().at(o.shape) +
           " at the " + position_names().at(o.position);
  }
  out += " on a " + background_names().at(s.background) + " " +
         background_colour_names().at(s.background_colour) + " background";
  return out;
}

namespace {

std::vector<std::string> split_words(const std::string& text) {
  std::string lower;
  for (unsigned char c : text) lower += static_cast<char>(std::tolower(c));
  std::istringstream ss(lower);
  std::vector<std::string> w;
  std::string t;
  while (ss >> t) w.push_back(t);
  return w;
}

// Index of `word` in `names`, or -1.
int find_name(const std::vector<std::string>& names, const std::string& word) {
  auto it = std::find(names.begin(), names.end(), word);
  return it == names.end() ? -1 : static_cast<int>(it - names.begin());
}

// A recursive-descent reader of caption()'s grammar over words; each step fails with nullopt.
struct CaptionReader {
  std::vector<std::string> w;
  size_t i = 0;
  bool take(const char* word) {
    if (i < w.size() && w[i] == word) return ++i, true;
    return false;
  }
  int take_name(const std::vector<std::string>& names) {
    if (i >= w.size()) return -1;
    const int k = find_name(names, w[i]);
    if (k >= 0) ++i;
    return k;
  }
  // Positions have one or two words; the longest match wins ("top left" before "top").
  int take_position() {
    if (i + 1 < w.size()) {
      const int k = find_name(position_names(), w[i] + " " + w[i + 1]);
      if (k >= 0) return i += 2, k;
    }
    return take_name(position_names());
  }
  std::optional<ToyObject> object() {
    ToyObject o;
    if (!take("a") || (o.size = take_name(size_names())) < 0 || (o.colour = take_name(colour_names())) < 0 ||
        (o.shape = take_name(shape_names())) < 0 || !take("at") || !take("the") || (o.position = take_position()) < 0)
      return std::nullopt;
    return o;
  }
};

}  // namespace

std::optional<ToyScene> parse_caption(const std::string& text) {
  CaptionReader r{split_words(text)};
  ToyScene s;
  do {
    auto o = r.object();
    if (!o) return std::nullopt;
    s.objects.push_back(*o);
  } while (r.take("and"));
  if (s.objects.size() > 2) return std::nullopt;
  if (!r.take("on") || !r.take("a") || (s.background = r.take_name(background_names())) < 0 ||
      (s.background_colour = r.take_name(background_colour_names())) < 0 || !r.take("background") ||
      r.i != r.w.size())
    return std::nullopt;
  if (s.objects.size() == 2 && s.objects[0].position == s.objects[1].position) return std::nullopt;
  std::sort(s.objects.begin(), s.objects.end(),
            [](const ToyObject& a, const ToyObject& b) { return a.position < b.position; });
  return s;
}

std::vector<std::string> caption_words() {
  std::vector<std::string> words{"a", "at", "the", "and", "on", "background"};
  auto add = [&](const std::vector<std::string>& names) {
    for (const auto& n : names) {
      std::istringstream ss(n);
      std::string t;
      while (ss >> t)
        if (std::find(words.begin(), words.end(), t) == words.end()) words.push_back(t);
    }
  };
  for (const auto* names : {&shape_names(), &colour_names(), &size_names(), &position_names(), &background_names(),
                            &background_colour_names()})
    add(*names);
  return words;
}

nlohmann::json attributes_json(const ToyScene& s) {
  nlohmann::json objects = nlohmann::json::array();
  for (const auto& o : s.objects)
    objects.push_back({{"shape", shape_names().at(o.shape)},
                       {"colour", colour_names().at(o.colour)},
                       {"size", size_names().at(o.size)},
                       {"position", position_names().at(o.position)}});
  return {{"objects", objects},
          {"background", background_names().at(s.background)},
          {"background_colour", background_colour_names().at(s.background_colour)}};
}

ToyScene scene_from_json(const nlohmann::json& j, const std::string& where) {
  auto name = [&](const nlohmann::json& obj, const char* key, const std::vector<std::string>& names) {
    auto it = obj.find(key);
    AFA_CHECK(it != obj.end() && it->is_string(), where, ": attribute '", key, "' missing or not a string");
    const int k = find_name(names, it->get<std::string>());
    AFA_CHECK(k >= 0, where, ": unknown ", key, " '", it->get<std::string>(), "'");
    return k;
  };
  AFA_CHECK(j.is_object() && j.contains("objects") && j["objects"].is_array(), where,
            ": no 'objects' array of toy attributes");
  ToyScene s;
  for (const auto& jo : j["objects"]) {
    AFA_CHECK(jo.is_object(), where, ": each of 'objects' must be an object");
    ToyObject o;
    o.shape = name(jo, "shape", shape_names());
    o.colour = name(jo, "colour", colour_names());
    o.size = name(jo, "size", size_names());
    o.position = name(jo, "position", position_names());
    s.objects.push_back(o);
  }
  AFA_CHECK(s.objects.size() == 1 || s.objects.size() == 2, where, ": a toy scene has 1 or 2 objects, got ",
            s.objects.size());
  s.background = name(j, "background", background_names());
  s.background_colour = name(j, "background_colour", background_colour_names());
  std::sort(s.objects.begin(), s.objects.end(),
            [](const ToyObject& a, const ToyObject& b) { return a.position < b.position; });
  return s;
}

}  // namespace afa::demo
