// afa: ensembles Stable Diffusion models by Adaptive Feature Aggregation. One file per subcommand.
#include <iostream>

int main(int argc, char** argv) {
  std::cerr << "afa: no subcommands yet\n";
  return 2;
}
