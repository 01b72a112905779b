#include "afa/demo/toy_render.h"

#include <torch/torch.h>

#include <array>
#include <cmath>
#include <vector>

#include "afa/util/error.h"

namespace afa::demo {

namespace {

constexpr int kSuper = 4;  // sub-samples per pixel side

struct Point {
  double x, y;
};

// Even-odd rule.
bool polygon_contains(const std::vector<Point>& p, double x, double y) {
  bool in = false;
  for (size_t i = 0, j = p.size() - 1; i < p.size(); j = i++) {
    if ((p[i].y > y) != (p[j].y > y) && x < (p[j].x - p[i].x) * (y - p[i].y) / (p[j].y - p[i].y) + p[i].x) in = !in;
  }
  return in;
}

const std::vector<Point>& triangle() {
  // Equilateral, pointing up, inscribed in the unit circle.
  static const std::vector<Point> t{{0, -1}, {0.866, 0.5}, {-0.866, 0.5}};
  return t;
}

const std::vector<Point>& star() {
  // Five points up (outer radius 1 every 72 degrees from -90), a fat inner radius 0.48 so that a small
  // star still reads as one. Literal cosines and sines: libm may round differently between machines.
  constexpr double c18 = 0.9510565162951535, s18 = 0.3090169943749474;
  constexpr double c54 = 0.5877852522924731, s54 = 0.8090169943749475, ri = 0.48;
  static const std::vector<Point> s{{0, -1},           {ri * c54, -ri * s54}, {c18, -s18},         {ri * c18, ri * s18},
                                    {c54, s54},        {0, ri},               {-c54, s54},         {-ri * c18, ri * s18},
                                    {-c18, -s18},      {-ri * c54, -ri * s54}};
  return s;
}

struct Colour {
  double r, g, b;
};
Colour to_colour(Rgb c) { return {double(c.r), double(c.g), double(c.b)}; }
// t > 0 mixes towards white, t < 0 towards black.
Colour shade(Colour c, double t) {
  if (t >= 0) return {c.r + (255 - c.r) * t, c.g + (255 - c.g) * t, c.b + (255 - c.b) * t};
  return {c.r * (1 + t), c.g * (1 + t), c.b * (1 + t)};
}

// Smooth value noise on a (kCells+1)^2 lattice of values in [-1, 1].
class ValueNoise {
 public:
  static constexpr int kCells = 6;
  explicit ValueNoise(uint64_t seed) {
    SplitMix64 rng(seed);
    for (auto& v : lattice_) v = rng.uniform(-1, 1);
  }
  double at(double u, double v) const {
    const double x = u * kCells, y = v * kCells;
    const int i = std::min(int(x), kCells - 1), j = std::min(int(y), kCells - 1);
    auto smooth = [](double t) { return t * t * (3 - 2 * t); };
    const double fx = smooth(x - i), fy = smooth(y - j);
    auto L = [&](int a, int b) { return lattice_[size_t(b * (kCells + 1) + a)]; };
    const double top = L(i, j) * (1 - fx) + L(i + 1, j) * fx, bottom = L(i, j + 1) * (1 - fx) + L(i + 1, j + 1) * fx;
    return top * (1 - fy) + bottom * fy;
  }

 private:
  std::array<double, (kCells + 1) * (kCells + 1)> lattice_{};
};

Colour background_at(const ToyScene& s, const ValueNoise& noise, double u, double v) {
  const Colour c = to_colour(background_rgb(s.background_colour));
  switch (s.background) {
    case 0:  // plain
      return c;
    case 1: {  // gradient: darker at the top, lighter at the bottom
      const double t = -0.45 + 0.8 * v;
      return shade(c, t);
    }
    case 2: {  // striped: diagonal, five periods across
      const double phase = (u + v) * 5.0 / 2.0;
      return shade(c, phase - std::floor(phase) < 0.5 ? 0.35 : -0.35);
    }
    default:  // noisy: smooth blotches
      return shade(c, 0.45 * noise.at(u, v));
  }
}

}  // namespace

bool shape_contains(int shape, double x, double y) {
  switch (shape) {
    case 0:  // circle
      return x * x + y * y <= 0.95 * 0.95;
    case 1:  // square
      return std::abs(x) <= 0.7 && std::abs(y) <= 0.7;  // corners on the unit circle
    case 2:
      return polygon_contains(triangle(), x, y);
    case 3:
      return polygon_contains(star(), x, y);
    case 4: {  // ring: a thick one, so that the hole survives a small size
      const double r2 = x * x + y * y;
      return r2 <= 1.0 && r2 >= 0.52 * 0.52;
    }
    case 5:  // cross (a plus sign)
      return (std::abs(x) <= 0.3 && std::abs(y) <= 0.92) || (std::abs(y) <= 0.3 && std::abs(x) <= 0.92);
    default:
      fail("toy shape index ", shape, " out of range");
  }
}

void object_geometry(const ToyObject& o, double& cx, double& cy, double& radius) {
  const double cell = 1.0 / kGrid;
  cx = (o.position % kGrid + 0.5 + o.dx) * cell;
  cy = (o.position / kGrid + 0.5 + o.dy) * cell;
  radius = (o.size == 0 ? kSmallRadius : kLargeRadius) * o.scale * cell;
}

torch::Tensor render(const ToyScene& scene, int size) {
  AFA_CHECK(size >= 16, "toy image size must be at least 16 (got ", size, ")");
  struct Placed {
    double cx, cy, r;
    Colour c;
    int shape;
  };
  std::vector<Placed> placed;
  for (const auto& o : scene.objects) {
    Placed p{};
    object_geometry(o, p.cx, p.cy, p.r);
    p.c = to_colour(colour_rgb(o.colour));
    p.shape = o.shape;
    placed.push_back(p);
  }
  const ValueNoise noise(scene.texture_seed);
  auto img = torch::empty({size, size, 3}, torch::kUInt8);
  auto* out = img.data_ptr<uint8_t>();
  const double inv = 1.0 / (size * kSuper);
  for (int py = 0; py < size; ++py) {
    for (int px = 0; px < size; ++px) {
      Colour sum{0, 0, 0};
      for (int sy = 0; sy < kSuper; ++sy) {
        for (int sx = 0; sx < kSuper; ++sx) {
          const double u = ((px * kSuper + sx) + 0.5) * inv, v = ((py * kSuper + sy) + 0.5) * inv;
          Colour c{};
          bool covered = false;
          for (auto it = placed.rbegin(); it != placed.rend() && !covered; ++it) {
            if (shape_contains(it->shape, (u - it->cx) / it->r, (v - it->cy) / it->r)) c = it->c, covered = true;
          }
          if (!covered) c = background_at(scene, noise, u, v);
          sum.r += c.r, sum.g += c.g, sum.b += c.b;
        }
      }
      const double n = kSuper * kSuper;
      uint8_t* p = out + (size_t(py) * size + px) * 3;
      auto q = [](double x) { return static_cast<uint8_t>(std::lround(std::min(255.0, std::max(0.0, x)))); };
      p[0] = q(sum.r / n), p[1] = q(sum.g / n), p[2] = q(sum.b / n);
    }
  }
  return img;
}

}  // namespace afa::demo
