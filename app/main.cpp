// afa: ensembles Stable Diffusion models by Adaptive Feature Aggregation.
// One file per subcommand (cmd_*.cpp); this file parses and maps errors to exit codes:
// 0 success, 2 bad input (arguments, files, models), 1 anything unexpected.
#include <c10/util/Exception.h>

#include <filesystem>
#include <iostream>
#include <new>

#include "afa/util/allocator.h"
#include "afa/util/error.h"
#include "commands.h"

int main(int argc, char** argv) {
  afa::reuse_freed_memory();
  CLI::App app;
  const std::map<CLI::App*, afa::app::Run> runs = afa::app::add_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  try {
    for (auto* sub : app.get_subcommands()) return runs.at(sub)();
  } catch (const afa::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::filesystem::filesystem_error& e) {
    // The user's files and folders: permissions, a full disk, a path that is not there.
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const c10::Error& e) {
    // Out of memory is the machine's limit, not a bug; anything else from torch is reported as one,
    // without the C++ stack trace.
    const std::string what = e.what_without_backtrace();
    const bool oom = what.find("can't allocate memory") != std::string::npos ||
                     what.find("out of memory") != std::string::npos;
    std::cerr << (oom ? "error: out of memory: " : "internal error: ") << what.substr(0, what.find('\n')) << "\n";
    return oom ? 2 : 1;
  } catch (const std::bad_alloc&) {
    std::cerr << "error: out of memory\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "internal error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
