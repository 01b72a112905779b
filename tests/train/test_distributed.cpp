// Data parallelism with c10d (TCPStore + Gloo): two processes with batch 1 each train the same
// aggregators as one process with batch 2. The two processes are this test program again, running only
// the Worker test (which does nothing when started normally).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "afa/train/distributed.h"
#include "train_test_util.h"

extern char** environ;

namespace afa::test {
namespace {

namespace fs = std::filesystem;

constexpr int kSteps = 3;

train::TrainOptions ddp_options(const std::string& data, const std::string& out) {
  auto o = tiny_train_options(data, out);
  o.lr = 1e-3;
  // AdamW's step is about lr * sign(grad): for gradients that are rounding noise (parameters whose effect a
  // GroupNorm cancels) the sign is random, so two runs that differ only in the order of float sums
  // would differ by 2 lr there. A larger eps keeps such updates negligible without changing the others.
  o.eps = 1e-6;
  o.max_steps = kSteps;
  o.threads = 1;
  return o;
}

TEST(TrainDistributed, Worker) {
  const char* data = std::getenv("AFA_TRAIN_WORKER_DATA");
  const char* out = std::getenv("AFA_TRAIN_WORKER_OUT");
  if (!data || !out) GTEST_SKIP() << "runs only as a child of TwoProcessesEqualOneWithTheDoubledBatch";
  auto o = ddp_options(data, out);
  o.batch_size = 1;
  o.distributed = train::DistributedOptions{};  // WORLD_SIZE, RANK, MASTER_ADDR, MASTER_PORT
  auto r = train::train(o);
  EXPECT_EQ(r.final_step, kSteps);
}

// A port no one listens on now: the kernel's pick for an ephemeral bind (a fixed formula could hit a
// port in use by any other program).
int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  const bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  if (fd >= 0) ::close(fd);
  return ok ? ntohs(a.sin_port) : 20000 + int(::getpid() % 20000);
}

pid_t spawn_worker(const std::vector<std::string>& env_extra, const std::string& log) {
  // The worker's settings first: getenv returns the first match, so a WORLD_SIZE or MASTER_PORT exported
  // in the user's shell must not win over them.
  std::vector<std::string> env(env_extra.begin(), env_extra.end());
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string self = fs::read_symlink("/proc/self/exe").string();
  std::string filter = "--gtest_filter=TrainDistributed.Worker";
  char* argv[] = {self.data(), filter.data(), nullptr};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, self.c_str(), &fa, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&fa);
  EXPECT_EQ(rc, 0) << "posix_spawn failed";
  return rc == 0 ? pid : -1;
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(TrainDistributed, TwoProcessesEqualOneWithTheDoubledBatch) {
  if (!train::Distributed::available()) GTEST_SKIP() << "this build has no c10d Gloo backend (libgloo-dev)";
  TempDir dir("train_ddp");
  auto data = make_synthetic_data(dir.path, 8);
  const std::string ddp_out = (dir.path / "ddp").string();
  const int port = free_loopback_port();
  std::vector<pid_t> pids;
  for (int rank = 0; rank < 2; ++rank) {
    pids.push_back(spawn_worker({"AFA_TRAIN_WORKER_DATA=" + data, "AFA_TRAIN_WORKER_OUT=" + ddp_out, "WORLD_SIZE=2",
                                 "RANK=" + std::to_string(rank), "MASTER_ADDR=127.0.0.1",
                                 "MASTER_PORT=" + std::to_string(port), "AFA_THREADS=1"},
                                (dir.path / ("rank" + std::to_string(rank) + ".log")).string()));
  }
  for (int rank = 0; rank < 2; ++rank) {
    int status = 0;
    ASSERT_GT(pids[rank], 0);
    ASSERT_EQ(waitpid(pids[rank], &status, 0), pids[rank]);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "rank " << rank << " failed:\n"
        << slurp(dir.path / ("rank" + std::to_string(rank) + ".log"));
  }
  ASSERT_TRUE(fs::exists(fs::path(ddp_out) / "training_state.json")) << slurp(dir.path / "rank0.log");

  auto single = ddp_options(data, (dir.path / "single").string());
  single.batch_size = 2;
  auto r = train::train(single);
  EXPECT_EQ(r.final_step, kSteps);

  // Same samples and draws in each step, so the same losses and (up to the order of float sums) weights.
  auto la = read_log(single.output), lb = read_log(ddp_out);
  ASSERT_EQ(la.size(), size_t(kSteps));
  ASSERT_EQ(lb.size(), size_t(kSteps));
  for (int i = 0; i < kSteps; ++i) {
    EXPECT_EQ(la[i]["samples"], 2);
    EXPECT_EQ(lb[i]["samples"], 2);
    const double a = la[i]["loss"], b = lb[i]["loss"];
    EXPECT_NEAR(a, b, 1e-5 * std::abs(a)) << "step " << i + 1;
    const double ga = la[i]["grad_norm"], gb = lb[i]["grad_norm"];
    EXPECT_NEAR(ga, gb, 1e-4 * std::abs(ga)) << "step " << i + 1;
    std::cerr << std::setprecision(10) << "step " << i + 1 << ": loss " << a << " / " << b << ", gradient norm " << ga << " / " << gb << "\n";
  }
  const double d = max_weight_diff(aggregator_weights(single.output), aggregator_weights(ddp_out));
  std::cerr << "max |single - ddp| weight difference: " << d << "\n";
  // A gradient of pure rounding noise (~1e-8) moves its weight by up to lr*g/eps ~ 1e-5 with either sign:
  // 1e-4 leaves room for that, ten times below a real difference (lr = 1e-3).
  EXPECT_LT(d, 1e-4);
}

}  // namespace
}  // namespace afa::test
