// Runs `afa serve` on a free loopback port for end-to-end tests, and talks to it over real HTTP.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

#include "cli.h"

namespace afa::test {

class ServeProcess {
 public:
  // `args` after `afa serve --port 0` (shell words, quoted as for run_afa).
  explicit ServeProcess(const std::string& args, const std::string& name) {
    dir_ = temp_dir("serve_" + name);
    log_ = (dir_ / "server.log").string();
    int out[2];
    if (pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      const int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 2);
      close(out[0]);
      const std::string cmd = "exec " + std::string(AFA_BINARY) + " serve --port 0 --threads 1 " + args;
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    stdout_ = fdopen(out[0], "r");
    // The server prints "listening on http://127.0.0.1:PORT" once it accepts connections.
    char line[512];
    while (stdout_ && std::fgets(line, sizeof line, stdout_)) {
      const std::string s(line);
      const auto at = s.find("listening on http://127.0.0.1:");
      if (at != std::string::npos) {
        port_ = std::stoi(s.substr(at + 30));
        break;
      }
    }
  }
  ~ServeProcess() {
    if (pid_ > 0 && !stopped_) stop();
    if (stdout_) std::fclose(stdout_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  int port() const { return port_; }
  bool running() const { return port_ > 0; }
  // SIGTERM, then the exit status (-1 when killed by a signal).
  int stop(int sig = SIGTERM) {
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    stopped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::string log() const {
    std::ifstream f(log_);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(300, 0);
    c.set_connection_timeout(10, 0);
    return c;
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  bool stopped_ = false;
  FILE* stdout_ = nullptr;
  std::filesystem::path dir_;
  std::string log_;
};

// Polls `done` every 20 ms for up to `seconds`.
inline bool wait_for(const std::function<bool()>& done, double seconds = 120) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

inline nlohmann::json body_json(const httplib::Result& r) {
  return r ? nlohmann::json::parse(r->body, nullptr, false) : nlohmann::json();
}

}  // namespace afa::test
