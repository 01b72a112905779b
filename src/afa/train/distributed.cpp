#include "afa/train/distributed.h"

#include <chrono>
#include <cstdlib>

#include "afa/util/error.h"

// c10d's Gloo header is guarded by USE_C10D_GLOO (set when libtorch itself is built with Gloo, which
// Debian's is) and includes gloo's own headers, which only libgloo-dev ships.
#if __has_include(<gloo/algorithm.h>) && __has_include(<torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>)
#define AFA_HAVE_C10D_GLOO 1
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#else
#define AFA_HAVE_C10D_GLOO 0
#endif

namespace afa::train {

namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

int64_t env_int(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  try {
    size_t used = 0;
    const int64_t x = std::stoll(v, &used);
    AFA_CHECK(used == std::string(v).size(), "");
    return x;
  } catch (...) {
    fail("environment variable ", name, "='", v, "' is not an integer");
  }
}

}  // namespace

DistributedOptions DistributedOptions::resolved() const {
  DistributedOptions o = *this;
  if (o.world_size < 0) o.world_size = env_int("WORLD_SIZE", 1);
  if (o.rank < 0) o.rank = env_int("RANK", 0);
  if (o.master_addr.empty()) o.master_addr = env_or("MASTER_ADDR", "127.0.0.1");
  if (o.master_port < 0) o.master_port = env_int("MASTER_PORT", 29500);
  AFA_CHECK(o.world_size >= 1, "--world-size must be at least 1 (got ", o.world_size, ")");
  AFA_CHECK(o.rank >= 0 && o.rank < o.world_size, "--rank must be in [0, ", o.world_size, ") (got ", o.rank, ")");
  AFA_CHECK(o.master_port > 0 && o.master_port < 65536, "--master-port must be in 1..65535 (got ", o.master_port,
            ")");
  AFA_CHECK(o.timeout_s > 0, "the distributed timeout must be positive");
  return o;
}

#if AFA_HAVE_C10D_GLOO

struct Distributed::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

bool Distributed::available() { return true; }

Distributed::Distributed(const DistributedOptions& options) {
  const DistributedOptions o = options.resolved();
  rank_ = o.rank;
  world_ = o.world_size;
  if (world_ == 1) return;
  const auto timeout = std::chrono::milliseconds(int64_t(o.timeout_s * 1000));
  impl_ = std::make_unique<Impl>();
  try {
    c10d::TCPStoreOptions so;
    so.port = uint16_t(o.master_port);
    so.isServer = rank_ == 0;
    so.numWorkers = size_t(world_);
    so.waitWorkers = true;
    so.timeout = timeout;
    impl_->store = c10::make_intrusive<c10d::TCPStore>(o.master_addr, so);
    auto go = c10d::ProcessGroupGloo::Options::create(timeout);
    // Loopback masters mean a single machine: bind Gloo to loopback too. Otherwise use the interface
    // named by GLOO_SOCKET_IFNAME (as torch does), else the one this host's name resolves to.
    const bool local = o.master_addr == "localhost" || o.master_addr.rfind("127.", 0) == 0;
    const std::string ifname = env_or("GLOO_SOCKET_IFNAME", "");
    if (local)
      go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else if (!ifname.empty())
      go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    else
      go->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, int(rank_), int(world_), go);
  } catch (const afa::Error&) {
    throw;
  } catch (const std::exception& e) {
    fail("data-parallel rendezvous at ", o.master_addr, ":", o.master_port, " (rank ", rank_, " of ", world_,
         ") failed: ", e.what());
  }
}

void Distributed::all_reduce_sum(std::vector<torch::Tensor>& tensors) {
  if (world_ == 1 || tensors.empty()) return;
  torch::NoGradGuard no_grad;
  bool f64 = false;
  for (const auto& t : tensors) f64 = f64 || t.scalar_type() == torch::kFloat64;
  const auto dt = f64 ? torch::kFloat64 : torch::kFloat32;
  std::vector<torch::Tensor> flat;
  for (const auto& t : tensors) flat.push_back(t.detach().to(torch::kCPU, dt).reshape({-1}));
  std::vector<torch::Tensor> buf{torch::cat(flat)};
  impl_->group->allreduce(buf)->wait();
  int64_t off = 0;
  for (auto& t : tensors) {
    const int64_t n = t.numel();
    t.copy_(buf[0].narrow(0, off, n).view(t.sizes()));
    off += n;
  }
}

void Distributed::barrier() {
  if (world_ == 1) return;
  impl_->group->barrier()->wait();
}

#else

struct Distributed::Impl {};

bool Distributed::available() { return false; }

Distributed::Distributed(const DistributedOptions& options) {
  const DistributedOptions o = options.resolved();
  rank_ = o.rank;
  world_ = o.world_size;
  AFA_CHECK(world_ == 1, "data-parallel training (world size ", world_,
            ") needs torch's c10d Gloo backend, and this afa was built without gloo's headers "
            "(install libgloo-dev and rebuild)");
}

void Distributed::all_reduce_sum(std::vector<torch::Tensor>&) {}
void Distributed::barrier() {}

#endif

Distributed::~Distributed() = default;

double Distributed::all_reduce_sum(double value) {
  if (world_ == 1) return value;
  std::vector<torch::Tensor> t{torch::tensor({value}, torch::kFloat64)};
  all_reduce_sum(t);
  return t[0].item<double>();
}

}  // namespace afa::train
