// afa toyscore: the toy world's prompt-fidelity metric.
//   afa toyscore --train --data DIR -o classifier.safetensors     train it on DIR/train.jsonl, validate on
//                                                                 DIR/heldout.jsonl (true and shuffled pairs)
//   afa toyscore --classifier FILE --images DIR|JSONL [--reference DIR|JSONL] [-o scores.json]
//                                                                 per-attribute accuracy; toy FID
//   afa toyscore ... --through-vae MODEL                           the images after a round trip through
//                                                                 MODEL's VAE: the ceiling of its models
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "afa/demo/demo_measures.h"
#include "afa/demo/toy_classifier_train.h"
#include "afa/demo/toy_score.h"
#include "afa/io/image.h"
#include "afa/metrics/frechet_distance.h"
#include "afa/util/atomic_file.h"
#include "afa/util/error.h"
#include "afa/util/threads.h"
#include "commands.h"

namespace afa::app {

namespace {

struct ToyScoreArgs {
  bool train = false, shuffle = false, no_augment = false, quiet = false;
  demo::ToyClassifierTrainOptions t;
  std::string classifier, images, reference, output, print_value, through_vae, write_images;
  uint64_t seed = 0;
  int threads = 0;
};

std::string summary(const nlohmann::json& acc) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(3);
  for (auto it = acc.begin(); it != acc.end(); ++it) s << " " << it.key() << " " << it.value().get<double>();
  return s.str();
}

int run_train(ToyScoreArgs& a) {
  AFA_CHECK(!a.t.data.empty(), "toyscore --train needs --data (a toydata folder or JSON-lines file)");
  AFA_CHECK(!a.output.empty(), "toyscore --train needs -o FILE.safetensors");
  a.t.output = a.output;
  a.t.seed = a.seed;
  a.t.augment = !a.no_augment;
  a.t.progress = !a.quiet;
  const auto r = demo::train_classifier(a.t);
  std::cerr << "trained on " << r.train_images << " images, final loss " << r.final_loss << "; wrote " << a.output
            << "\n";
  if (r.validation.images > 0) {
    std::cerr << "held-out true pairs (" << r.validation.images << "):" << summary(r.validation.true_pairs.accuracy())
              << "\nshuffled pairs:" << summary(r.validation.shuffled_pairs.accuracy())
              << "\nchance (shuffled captions vs true scenes):" << summary(r.validation.chance.accuracy()) << "\n";
    std::cout << r.validation.to_json().dump(2) << "\n";
  }
  return 0;
}

int run_score(const ToyScoreArgs& a) {
  AFA_CHECK(!a.classifier.empty(), "toyscore needs --classifier FILE (or --train to make one)");
  AFA_CHECK(!a.images.empty(), "toyscore needs --images DIR|JSONL");
  auto model = demo::load_classifier(a.classifier);
  const auto items = demo::load_captioned_images(a.images);
  const auto scenes = demo::parse_captions(items);
  auto images = demo::read_images(items);
  if (!a.through_vae.empty()) {
    images = demo::vae_round_trip(pipeline::load_stable_diffusion(a.through_vae), images);
  }
  if (!a.write_images.empty()) {
    // The images as scored (after the round trip), numbered in input order, each with its caption.
    std::filesystem::create_directories(a.write_images);
    for (size_t i = 0; i < items.size(); ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "%06zu.png", i);
      io::write_png((std::filesystem::path(a.write_images) / name).string(), images[int64_t(i)],
                    {{"parameters", items[i].text}});
    }
  }
  const auto out = demo::run_classifier(model, images);
  std::vector<size_t> caption_of(items.size());
  for (size_t i = 0; i < items.size(); ++i) caption_of[i] = i;
  if (a.shuffle) caption_of = demo::shuffled_pairing(items.size(), a.seed);

  demo::FidelityTally tally;
  nlohmann::json per_image = nlohmann::json::array();
  for (size_t i = 0; i < items.size(); ++i) {
    auto rec = tally.add(scenes[caption_of[i]], out.readings[i]);
    rec["image"] = items[i].image;
    rec["text"] = items[caption_of[i]].text;
    per_image.push_back(rec);
  }
  nlohmann::ordered_json report{{"classifier", a.classifier},
                                {"images", a.images},
                                {"count", items.size()},
                                {"shuffled", a.shuffle},
                                {"through_vae", a.through_vae},
                                {"accuracy", tally.accuracy()}};
  std::cerr << items.size() << " images" << (a.shuffle ? " (shuffled captions)" : "")
            << (a.through_vae.empty() ? "" : " through " + a.through_vae + "'s VAE") << ":"
            << summary(tally.accuracy()) << "\n";
  if (!a.reference.empty()) {
    const auto ref = demo::load_captioned_images(a.reference);
    const auto ref_out = demo::run_classifier(model, demo::read_images(ref));
    const double fid = metrics::frechet_distance(out.features, ref_out.features);
    report["reference"] = a.reference;
    report["toy_fid"] = fid;
    std::cerr << "toy FID against " << ref.size() << " reference images: " << fid << "\n";
  }
  report["per_image"] = per_image;
  if (!a.print_value.empty()) {
    // One number on stdout, as autoMBW's --scorer and scripts want it.
    const auto acc = tally.accuracy();
    std::string keys;
    for (auto it = acc.begin(); it != acc.end(); ++it) keys += (keys.empty() ? "" : ", ") + it.key();
    AFA_CHECK(acc.contains(a.print_value), "--print-value ", a.print_value, ": not one of ", keys);
    if (!a.output.empty()) write_text_atomic(a.output, report.dump(2) + "\n");
    std::cout << acc.at(a.print_value).get<double>() << "\n";
    return 0;
  }
  if (!a.output.empty()) {
    write_text_atomic(a.output, report.dump(2) + "\n");
    std::cerr << "wrote " << a.output << "\n";
  } else {
    report.erase("per_image");
    std::cout << report.dump(2) << "\n";
  }
  return 0;
}

}  // namespace

Run add_toyscore(CLI::App& app) {
  auto a = std::make_shared<ToyScoreArgs>();
  app.add_flag("--train", a->train, "train a classifier on true toy images instead of scoring");
  app.add_option("--data", a->t.data, "--train: a toydata folder (train.jsonl, heldout.jsonl) or JSON-lines file");
  app.add_option("--validation", a->t.validation, "--train: JSON-lines to validate on (default: DATA/heldout.jsonl)");
  app.add_option("--epochs", a->t.epochs, "--train: epochs")->capture_default_str();
  app.add_option("--batch-size", a->t.batch_size, "--train: images per step")->capture_default_str();
  app.add_option("--lr", a->t.lr, "--train: AdamW learning rate (decays linearly to 0)")->capture_default_str();
  app.add_option("--limit", a->t.limit, "--train: use only the first N training images (0: all)");
  app.add_flag("--no-augment", a->no_augment, "--train: no random blur and noise");
  app.add_option("--classifier", a->classifier, "the classifier (.safetensors from --train)");
  app.add_option("--images", a->images, "images to score: JSON-lines, or a folder of PNGs captioned in their "
                                        "\"parameters\" chunk (afa generate's)");
  app.add_flag("--shuffle", a->shuffle, "pair each image with another image's caption (a sanity check)");
  app.add_option("--reference", a->reference, "true images (DIR|JSONL) for the toy FID, e.g. DATA/heldout.jsonl");
  app.add_option("-o,--output", a->output, "--train: the classifier file; else scores.json (default: stdout)");
  app.add_option("--through-vae", a->through_vae,
                 "score the images after an encode/decode round trip through this model's VAE (its ceiling)");
  app.add_option("--write-images", a->write_images,
                 "also write the images as scored (after --through-vae's round trip) as DIR/000000.png, ...");
  app.add_option("--seed", a->seed, "seed of training and of the shuffled pairing")->capture_default_str();
  app.add_option("--threads", a->threads, "CPU threads (default: $AFA_THREADS or all cores)");
  app.add_option("--print-value", a->print_value,
                 "print only this accuracy (e.g. all, shape) as one number, e.g. for afa merge --search --scorer");
  app.add_flag("-q,--quiet", a->quiet, "no progress output");
  return [a] {
    set_threads(a->threads);
    return a->train ? run_train(*a) : run_score(*a);
  };
}

}  // namespace afa::app
