// Each subcommand registers its options on the CLI11 app and returns what runs it.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <map>

namespace afa::app {

using Run = std::function<int()>;

Run add_info(CLI::App& app);
Run add_tokenize(CLI::App& app);
Run add_generate(CLI::App& app);
Run add_train(CLI::App& app);
Run add_init(CLI::App& app);
Run add_merge(CLI::App& app);
Run add_toydata(CLI::App& app);
Run add_toyscore(CLI::App& app);
Run add_demo(CLI::App& app);
Run add_convert(CLI::App& app);
Run add_analyze(CLI::App& app);
Run add_eval(CLI::App& app);
Run add_bench_quality(CLI::App& app);
Run add_serve(CLI::App& app);

// The whole command line on `app` (afa's name, description and option policy, every subcommand); what
// runs each subcommand. main() and the test of the README's commands build the parser through this.
std::map<CLI::App*, Run> add_commands(CLI::App& app);

}  // namespace afa::app
