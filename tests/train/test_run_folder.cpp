// A training folder has one writer (RunLock), and a checkpoint save killed between its renames is
// repaired on the next start (recover_interrupted_save) without losing the log.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "afa/train/run_folder.h"
#include "afa/train/training_checkpoint.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace afa;

namespace {

// The PID of a process that has exited (forked and reaped here).
long dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return child;
}

void save(const fs::path& dir, int64_t step) {
  train::TrainingState st;
  st.step = step;
  st.data_order = {0, 1, 2};
  train::save_training_checkpoint(
      dir.string(), [](const std::string& tmp) {
        fs::create_directories(tmp);
        std::ofstream(fs::path(tmp) / "weights.bin") << "w";
      },
      st, train::carried_entries());
}

std::string read(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace

TEST(RunLock, ASecondWriterIsRefusedWithThePidAndTheLockGoesWithTheRun) {
  test::TempDir dir("run_lock");
  const std::string out = (dir.path / "C1").string();
  {
    train::RunLock first(out);
    EXPECT_TRUE(fs::exists(out + ".lock"));
    const std::string e = test::error_of([&] { train::RunLock second(out); });
    EXPECT_NE(e.find("another afa train"), std::string::npos) << e;
    EXPECT_NE(e.find("PID " + std::to_string(::getpid())), std::string::npos) << e;
  }
  EXPECT_FALSE(fs::exists(out + ".lock"));
  train::RunLock again(out + "/");  // the same folder written with a trailing slash
  EXPECT_EQ(again.path(), out + ".lock");
}

TEST(RecoverInterruptedSave, KilledBetweenTheRenamesTheNewestCheckpointAndItsLogComeBack) {
  test::TempDir dir("recover_between");
  const fs::path out = dir.path / "C1";
  save(out, 3);
  std::ofstream(out / train::kLogName) << "{\"step\":1}\n{\"step\":2}\n{\"step\":3}\n";
  // The state a save of step 7 leaves when killed after renaming OUT away and before renaming the new one in.
  const long pid = dead_pid();
  const fs::path saving = dir.path / ("C1.saving." + std::to_string(pid)), old = dir.path / ("C1.old." + std::to_string(pid));
  save(saving, 7);
  fs::rename(out / train::kLogName, saving / train::kLogName);
  fs::rename(out, old);
  ASSERT_FALSE(fs::exists(out));

  const auto did = train::recover_interrupted_save(out.string(), train::carried_entries());
  ASSERT_FALSE(did.empty());
  EXPECT_NE(did[0].find("step 7"), std::string::npos) << did[0];
  EXPECT_EQ(train::load_training_state(out.string()).step, 7);
  EXPECT_EQ(read(out / train::kLogName), "{\"step\":1}\n{\"step\":2}\n{\"step\":3}\n");
  EXPECT_FALSE(fs::exists(saving));
  EXPECT_FALSE(fs::exists(old));
  EXPECT_TRUE(train::recover_interrupted_save(out.string(), train::carried_entries()).empty());  // nothing left
}

TEST(RecoverInterruptedSave, KilledAfterCarryingTheLogTheCheckpointKeepsItsLog) {
  test::TempDir dir("recover_carried");
  const fs::path out = dir.path / "C1";
  save(out, 3);
  std::ofstream(out / train::kLogName) << "{\"step\":3}\n";
  const long pid = dead_pid();
  const fs::path saving = dir.path / ("C1.saving." + std::to_string(pid));
  fs::create_directories(saving);  // an unfinished save: weights only, no state
  fs::rename(out / train::kLogName, saving / train::kLogName);
  // A live process's save in progress is not touched.
  const fs::path live = dir.path / ("C1.saving." + std::to_string(::getpid()));
  fs::create_directories(live);

  train::recover_interrupted_save(out.string(), train::carried_entries());
  EXPECT_EQ(train::load_training_state(out.string()).step, 3);
  EXPECT_EQ(read(out / train::kLogName), "{\"step\":3}\n");
  EXPECT_FALSE(fs::exists(saving));
  EXPECT_TRUE(fs::exists(live));
}
