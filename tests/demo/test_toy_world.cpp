// Toy scenes: the PRNG, sampling, captions and their parser, the attribute record, the drawing.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <set>

#include "afa/demo/toy_render.h"
#include "afa/demo/toy_split.h"
#include "afa/demo/toy_world.h"
#include "afa/util/error.h"

namespace afa::test {
namespace {

using namespace afa::demo;

TEST(ToyWorld, SplitMixMatchesItsReferenceOutput) {
  // splitmix64 seeded with 0: the first outputs of Vigna's reference implementation.
  SplitMix64 r(0);
  EXPECT_EQ(r.next(), 0xE220A8397B1DCDAFull);
  EXPECT_EQ(r.next(), 0x6E789E6AA1B965F4ull);
  EXPECT_EQ(r.next(), 0x06C45D188009454Full);
}

TEST(ToyWorld, SamplingIsDeterministicAndCoversEveryAttribute) {
  std::set<int> shapes, colours, sizes, positions, bgs, bg_colours, counts;
  for (uint64_t k = 0; k < 2000; ++k) {
    const auto a = sample_scene(scene_seed(7, k)), b = sample_scene(scene_seed(7, k));
    ASSERT_TRUE(a.same_attributes(b));
    ASSERT_EQ(a.texture_seed, b.texture_seed);
    counts.insert(int(a.objects.size()));
    for (const auto& o : a.objects) {
      shapes.insert(o.shape), colours.insert(o.colour), sizes.insert(o.size), positions.insert(o.position);
    }
    if (a.objects.size() == 2) {
      ASSERT_LT(a.objects[0].position, a.objects[1].position);
    }
    bgs.insert(a.background), bg_colours.insert(a.background_colour);
  }
  EXPECT_EQ(counts, (std::set<int>{1, 2}));
  EXPECT_EQ(shapes.size(), shape_names().size());
  EXPECT_EQ(colours.size(), colour_names().size());
  EXPECT_EQ(sizes.size(), size_names().size());
  EXPECT_EQ(positions.size(), 9u);
  EXPECT_EQ(bgs.size(), background_names().size());
  EXPECT_EQ(bg_colours.size(), background_colour_names().size());
  EXPECT_FALSE(sample_scene(scene_seed(7, 0)).same_attributes(sample_scene(scene_seed(8, 0))) &&
               sample_scene(scene_seed(7, 1)).same_attributes(sample_scene(scene_seed(8, 1))));
}

TEST(ToyWorld, CaptionSaysWhatWasDrawn) {
  ToyScene s;
  ToyObject a, b;
  a.shape = 0, a.colour = 0, a.size = 0, a.position = 0;  // small red circle, top left
  b.shape = 1, b.colour = 4, b.size = 1, b.position = 8;  // large blue square, bottom right
  s.objects = {a, b};
  s.background = 2, s.background_colour = 0;
  EXPECT_EQ(caption(s),
            "a small red circle at the top left and a large blue square at the bottom right on a striped grey "
            "background");
  s.objects = {b};
  EXPECT_EQ(caption(s), "a large blue square at the bottom right on a striped grey background");
}

TEST(ToyWorld, CaptionsAndAttributeRecordsRoundTrip) {
  for (uint64_t k = 0; k < 3000; ++k) {
    const auto s = sample_scene(scene_seed(1, k));
    const auto text = caption(s);
    const auto parsed = parse_caption(text);
    ASSERT_TRUE(parsed.has_value()) << text;
    EXPECT_TRUE(parsed->same_attributes(s)) << text;
    EXPECT_TRUE(scene_from_json(attributes_json(s), "test").same_attributes(s)) << text;
    EXPECT_EQ(caption(*parse_caption("  " + std::string(1, char(std::toupper(text[0]))) + text.substr(1) + " ")),
              text);
  }
}

TEST(ToyWorld, ParserRejectsOtherText) {
  for (const char* bad : {"", "a cat", "a small red circle at the top left", "a small red circle at the top left on a",
                          "a small red circle at the middle on a plain grey background",
                          "a small red circle at the top and a small blue ring at the top on a plain grey background",
                          "a small red circle at the top on a plain grey background please",
                          "a small red circle at the top and a small red circle at the left and a small red circle "
                          "at the right on a plain grey background"})
    EXPECT_FALSE(parse_caption(bad).has_value()) << bad;
  EXPECT_THROW(scene_from_json({{"objects", {{{"shape", "blob"}}}}}, "x"), afa::Error);
}

TEST(ToyWorld, EveryShapeFitsTheUnitCircleAndCoversItsCentreRegion) {
  for (int shape = 0; shape < int(shape_names().size()); ++shape) {
    int inside = 0;
    for (int i = 0; i < 200; ++i)
      for (int j = 0; j < 200; ++j) {
        const double x = -1.1 + 2.2 * (i + 0.5) / 200, y = -1.1 + 2.2 * (j + 0.5) / 200;
        if (shape_contains(shape, x, y)) {
          ++inside;
          ASSERT_LE(x * x + y * y, 1.0 + 1e-9) << shape_names()[size_t(shape)];
        }
      }
    // Every shape fills a fair part of its circle, so that none is a speck.
    EXPECT_GT(inside, 200 * 200 / 8) << shape_names()[size_t(shape)];
  }
}

// The pixel nearest an image-space point.
std::array<int, 3> pixel(const torch::Tensor& img, double u, double v) {
  const int size = int(img.size(0));
  const int x = std::min(size - 1, int(u * size)), y = std::min(size - 1, int(v * size));
  auto a = img.accessor<uint8_t, 3>();
  return {a[y][x][0], a[y][x][1], a[y][x][2]};
}

TEST(ToyWorld, ObjectsHaveTheirColourAtTheirCentreAndStayInTheirCell) {
  for (int size : {64, 128}) {
    for (uint64_t k = 0; k < 150; ++k) {
      const auto s = sample_scene(scene_seed(3, k));
      const auto img = render(s, size);
      ASSERT_EQ(img.sizes(), (std::vector<int64_t>{size, size, 3}));
      for (const auto& o : s.objects) {
        double cx, cy, r;
        object_geometry(o, cx, cy, r);
        // A ring's centre is its hole: look halfway into its band instead.
        const double u = cx + (shape_names()[size_t(o.shape)] == "ring" ? 0.76 * r : 0.0);
        const auto c = colour_rgb(o.colour);
        EXPECT_EQ(pixel(img, u, cy), (std::array<int, 3>{c.r, c.g, c.b})) << caption(s) << " size " << size;
        const double cell = 1.0 / kGrid, x0 = (o.position % kGrid) * cell, y0 = (o.position / kGrid) * cell;
        EXPECT_GE(cx - r, x0 - 1e-9);
        EXPECT_LE(cx + r, x0 + cell + 1e-9);
        EXPECT_GE(cy - r, y0 - 1e-9);
        EXPECT_LE(cy + r, y0 + cell + 1e-9);
      }
    }
  }
}

TEST(ToyWorld, RenderingIsDeterministicAndAntiAliased) {
  const auto s = sample_scene(scene_seed(5, 0));
  const auto a = render(s, 64), b = render(s, 64);
  EXPECT_TRUE(torch::equal(a, b));
  // Edges blend: some pixels are neither the background nor an object colour. A plain background and
  // a single object give exactly two pure colours, and mixtures on the edge.
  ToyScene p;
  ToyObject o;
  o.shape = 0, o.colour = 0, o.size = 1, o.position = 4;
  p.objects = {o};
  const auto img = render(p, 64).reshape({-1, 3});
  std::set<std::array<int, 3>> distinct;
  auto acc = img.accessor<uint8_t, 2>();
  for (int64_t i = 0; i < img.size(0); ++i) distinct.insert({acc[i][0], acc[i][1], acc[i][2]});
  EXPECT_GT(distinct.size(), 4u);
}

TEST(ToyWorld, SubsetsFollowTheirRules) {
  ToyScene s;
  ToyObject o;
  o.shape = 4, o.colour = 1;  // orange ring
  s.objects = {o};
  s.background = 3;  // noisy
  EXPECT_EQ(subsets(s), (std::vector<std::string>{"round", "warm"}));
  s.background = 0;  // plain: not textured
  EXPECT_EQ(subsets(s), (std::vector<std::string>{"round"}));
  ToyObject q = o;
  q.shape = 2, q.position = 5;  // a triangle too
  s.objects = {o, q};
  EXPECT_EQ(subsets(s), (std::vector<std::string>{"pair"}));
}

TEST(ToyWorld, HeldOutRuleHoldsOutAboutOneInTen) {
  int held = 0;
  const int n = 5000;
  for (uint64_t k = 0; k < n; ++k) held += is_held_out(caption(sample_scene(scene_seed(11, k))));
  EXPECT_GT(held, n / 10 - 100);
  EXPECT_LT(held, n / 10 + 100);
  EXPECT_EQ(is_held_out("x"), caption_hash("x") % kHeldOutModulus == 0);
}

}  // namespace
}  // namespace afa::test
