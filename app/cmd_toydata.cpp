// afa toydata: draws the demo's captioned toy images (train and held-out splits, expert subsets, and
// the toy CLIP tokenizer) in `afa train`'s JSON-lines format.
#include <iostream>

#include "afa/demo/toy_data.h"
#include "commands.h"

namespace afa::app {

Run add_toydata(CLI::App& app) {
  auto o = std::make_shared<demo::ToyDataOptions>();
  auto quiet = std::make_shared<bool>(false);
  app.add_option("-o,--output", o->output, "output folder")->required();
  app.add_option("--count", o->count, "training images")->capture_default_str();
  app.add_option("--heldout-count", o->heldout_count, "held-out images (default: count / 10)");
  app.add_option("--seed", o->seed, "seed of the scene stream")->capture_default_str();
  app.add_option("--size", o->size, "image size: 64 or 128")->capture_default_str();
  app.add_option("--tokenizer", o->tokenizer_dir, "where to write the toy tokenizer (default: OUTPUT/tokenizer)");
  app.add_flag("-q,--quiet", *quiet, "no progress output");
  return [o, quiet] {
    o->progress = !*quiet;
    const auto s = demo::write_toy_data(*o);
    std::cerr << "wrote " << s.train << " training and " << s.heldout << " held-out images (" << s.scenes_drawn
              << " scenes drawn) to " << o->output << "; subsets:";
    for (const auto& [name, n] : s.train_subsets) std::cerr << " " << name << " " << n;
    std::cerr << "; toy vocabulary " << s.vocab_size << " tokens\n";
    return 0;
  };
}

}  // namespace afa::app
