// afa tokenize -m PATH -p TEXT: the 77 ids SD feeds its text encoder, as a JSON array on one line;
// the token count on stderr, so a user sees whether the prompt passes the 75-token limit.
#include <filesystem>
#include <iostream>

#include "afa/pipeline/stable_diffusion.h"
#include "afa/util/error.h"
#include "commands.h"

namespace afa::app {

namespace {

struct TokenizeArgs {
  std::string model, prompt;
};

int run_tokenize(const TokenizeArgs& a) {
  namespace fs = std::filesystem;
  std::string dir = pipeline::default_tokenizer_dir();
  if (!a.model.empty()) {
    AFA_CHECK(fs::exists(a.model), a.model, ": no such file or folder");
    if (fs::is_directory(a.model) && fs::exists(fs::path(a.model) / "tokenizer" / "vocab.json"))
      dir = (fs::path(a.model) / "tokenizer").string();
  }
  auto tok = text::ClipTokenizer::from_folder(dir);
  auto enc = tok.encode(a.prompt);
  std::cout << "[";
  for (size_t i = 0; i < enc.ids.size(); ++i) std::cout << (i ? ", " : "") << enc.ids[i];
  std::cout << "]\n";
  const int text_tokens = enc.n_tokens_untruncated - 2;
  std::cerr << text_tokens << " tokens (limit " << tok.max_length() - 2 << ")";
  if (enc.truncated()) std::cerr << ": truncated, " << text_tokens - (tok.max_length() - 2) << " tokens dropped";
  std::cerr << "\n";
  return 0;
}

}  // namespace

Run add_tokenize(CLI::App& app) {
  auto a = std::make_shared<TokenizeArgs>();
  app.add_option("-m,--model", a->model, "checkpoint whose tokenizer to use (default: CLIP's vocabulary)");
  app.add_option("-p,--prompt", a->prompt, "the prompt")->required();
  return [a] { return run_tokenize(*a); };
}

}  // namespace afa::app
