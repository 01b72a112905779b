// Every `afa ...` command line in README.md's code blocks parses with afa's own command-line parser
// (built in-process by add_commands, nothing runs). The synopses are read as usage text: [optional]
// groups are included, the first of `a|b` alternatives is taken, `...` repeats nothing, and a
// placeholder given to a numeric option (N, W, a) becomes a number. Every option named anywhere in a
// line (in every alternative) must exist, and `[--opt 8]` with a number must show the option's default.
#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "commands.h"

namespace afa::test {
namespace {

struct ReadmeCommand {
  int line = 0;
  std::string text;
};

// Lines of fenced code blocks that start with "afa ", with their indented continuation lines; shell
// comments dropped.
std::vector<ReadmeCommand> readme_commands(const std::string& path) {
  std::ifstream f(path);
  std::vector<ReadmeCommand> out;
  std::string line;
  bool in_block = false, open = false;
  for (int n = 1; std::getline(f, line); ++n) {
    if (line.rfind("```", 0) == 0) {
      in_block = !in_block;
      open = false;
      continue;
    }
    if (!in_block) continue;
    const auto hash = line.find(" #");
    if (hash != std::string::npos) line = line.substr(0, hash);
    const auto start = line.find_first_not_of(' ');
    if (start == std::string::npos) {
      open = false;
      continue;
    }
    const std::string body = line.substr(start);
    if (body.rfind("afa ", 0) == 0) {
      out.push_back({n, body});
      open = true;
    } else if (open && start > 0) {
      out.back().text += " " + body;
    } else {
      open = false;
    }
  }
  return out;
}

struct Token {
  std::string text;
  bool quoted = false;
};

// Shell-like words (quotes kept together), with a synopsis' brackets and alternative bars as tokens.
std::vector<Token> tokenize(const std::string& s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    if (i >= s.size()) break;
    if (s[i] == '"' || s[i] == '\'') {
      const char q = s[i];
      const auto end = s.find(q, i + 1);
      out.push_back({s.substr(i + 1, end - i - 1), true});
      i = end == std::string::npos ? s.size() : end + 1;
      continue;
    }
    size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    std::string w = s.substr(i, j - i);
    i = j;
    while (!w.empty() && w[0] == '[') {
      out.push_back({"["});
      w = w.substr(1);
    }
    // Trailing ']' close groups unless they close a '[' inside the word (FILE[:weight]); "]..." repeats.
    int inner = 0;
    size_t keep = 0;
    for (size_t k = 0; k < w.size(); ++k) {
      if (w[k] == '[') ++inner;
      if (w[k] == ']') {
        if (inner == 0) break;
        --inner;
      }
      keep = k + 1;
    }
    if (keep > 0) out.push_back({w.substr(0, keep)});
    for (char c : w.substr(keep))
      if (c == ']') out.push_back({"]"});
  }
  return out;
}

// A synopsis as a tree: words, and [groups] of alternatives separated by " | ".
struct Node {
  Token word;
  std::vector<std::vector<Node>> alternatives;  // non-empty: a group
};

// `ok` turns false at a group without its closing bracket.
std::vector<Node> parse_sequence(const std::vector<Token>& t, size_t& i, bool& ok) {
  std::vector<Node> seq;
  while (i < t.size()) {
    const auto& w = t[i];
    if (!w.quoted && (w.text == "]" || w.text == "|")) return seq;
    ++i;
    if (!w.quoted && w.text == "[") {
      Node g;
      g.alternatives.push_back(parse_sequence(t, i, ok));
      while (i < t.size() && t[i].text == "|") {
        ++i;
        g.alternatives.push_back(parse_sequence(t, i, ok));
      }
      if (i < t.size()) ++i;  // the closing bracket
      else ok = false;
      seq.push_back(std::move(g));
    } else {
      seq.push_back({w, {}});
    }
  }
  return seq;
}

bool is_option(const Token& w) {
  return !w.quoted && w.text.size() > 1 && w.text[0] == '-' && std::isalpha(static_cast<unsigned char>(w.text.back())) &&
         !std::isdigit(static_cast<unsigned char>(w.text[1]));
}

void concrete(const std::vector<Node>& seq, std::vector<Token>& out) {
  for (const auto& n : seq) {
    if (!n.alternatives.empty()) {
      concrete(n.alternatives[0], out);
    } else if (n.word.quoted) {
      out.push_back(n.word);
    } else if (n.word.text != "...") {
      out.push_back({n.word.text.substr(0, n.word.text.find('|'))});
    }
  }
}

void all_options(const std::vector<Node>& seq, std::vector<std::string>& out) {
  for (const auto& n : seq) {
    for (const auto& alt : n.alternatives) all_options(alt, out);
    if (n.alternatives.empty() && is_option(n.word)) out.push_back(n.word.text);
  }
}

// [--opt 8]: a group of one option and a number.
void shown_defaults(const std::vector<Node>& seq, std::vector<std::pair<std::string, std::string>>& out) {
  static const std::regex number("-?[0-9]+(\\.[0-9]+)?(e-?[0-9]+)?");
  for (const auto& n : seq) {
    for (const auto& alt : n.alternatives) {
      if (n.alternatives.size() == 1 && alt.size() == 2 && alt[0].alternatives.empty() && alt[1].alternatives.empty() &&
          is_option(alt[0].word) && std::regex_match(alt[1].word.text, number))
        out.emplace_back(alt[0].word.text, alt[1].word.text);
      shown_defaults(alt, out);
    }
  }
}

bool numeric_type(const CLI::Option* o) {
  const std::string t = o->get_type_name();
  return t.find("INT") != std::string::npos || t.find("FLOAT") != std::string::npos ||
         t.find("NUMBER") != std::string::npos;
}

// The problems of one README command, empty when it parses.
std::string check(const std::string& text) {
  auto tokens = tokenize(text);
  size_t i = 0;
  bool ok = true;
  const auto tree = parse_sequence(tokens, i, ok);
  if (!ok || i != tokens.size()) return "unbalanced [ ] or a | outside a group";
  std::vector<Token> words;
  concrete(tree, words);
  if (words.size() < 2) return "no subcommand";
  CLI::App app;
  const auto runs = app::add_commands(app);
  CLI::App* sub = nullptr;
  try {
    sub = app.get_subcommand(words[1].text);
  } catch (const CLI::OptionNotFound&) {
    return "no subcommand '" + words[1].text + "'";
  }
  std::string problems;
  std::vector<std::string> named;
  all_options(tree, named);
  for (const auto& o : named)
    if (!sub->get_option_no_throw(o)) problems += "unknown option " + o + "; ";
  std::vector<std::pair<std::string, std::string>> defaults;
  shown_defaults(tree, defaults);
  for (const auto& [name, shown] : defaults) {
    const CLI::Option* o = sub->get_option_no_throw(name);
    if (!o || o->get_default_str().empty() || !numeric_type(o)) continue;
    if (std::stod(o->get_default_str()) != std::stod(shown))
      problems += name + " shows " + shown + " but its default is " + o->get_default_str() + "; ";
  }
  // Placeholders of numeric options become numbers.
  for (size_t k = 2; k + 1 < words.size(); ++k) {
    if (!is_option(words[k])) continue;
    const CLI::Option* o = sub->get_option_no_throw(words[k].text);
    if (!o || o->get_expected_max() == 0) continue;  // a flag
    auto& v = words[k + 1];
    static const std::regex literal("[-0-9.,e+]+");
    if (numeric_type(o) && !std::regex_match(v.text, literal)) v.text = "1";
    ++k;
  }
  std::vector<std::string> args;
  for (size_t k = words.size(); k-- > 1;) args.push_back(words[k].text);  // CLI11 takes them reversed
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    problems += std::string(e.what()) + "; ";
  }
  return problems;
}

TEST(Readme, EveryAfaCommandParses) {
  const auto commands = readme_commands(std::string(AFA_SOURCE_DIR) + "/README.md");
  ASSERT_GE(commands.size(), 20u) << "the README's command lines were not found";
  std::set<std::string> subcommands;
  for (const auto& c : commands) {
    const std::string problems = check(c.text);
    EXPECT_EQ(problems, "") << "README.md line " << c.line << ": " << c.text;
    subcommands.insert(tokenize(c.text).at(1).text);
  }
  // Every subcommand has its synopsis in the README.
  CLI::App app;
  app::add_commands(app);
  for (const auto* sub : app.get_subcommands([](CLI::App*) { return true; }))
    EXPECT_TRUE(subcommands.count(sub->get_name())) << sub->get_name() << " has no command line in the README";
}

// The checker itself: what it must refuse.
TEST(Readme, TheCheckerRefusesWhatDoesNotParse) {
  EXPECT_EQ(check("afa generate -m MODEL -p \"a prompt\" [--steps 20] [--sampler ddim|pndm] [-W W]"), "");
  EXPECT_NE(check("afa generate -m MODEL -p x [--no-such-option 3]"), "");
  EXPECT_NE(check("afa generate -m MODEL -p x [--aggregator DIR | --nope X]"), "");  // in a second alternative
  EXPECT_NE(check("afa generate -p x"), "");                                         // -m is required
  EXPECT_NE(check("afa generate -m MODEL -p x [--steps 8]"), "");                    // not the default
  EXPECT_NE(check("afa frobnicate -x"), "");
  EXPECT_NE(check("afa generate -m M -p x [--steps 20"), "");
}

}  // namespace
}  // namespace afa::test
