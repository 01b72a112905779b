#include "afa/serve/job_queue.h"

#include <c10/util/Exception.h>

#include <cmath>
#include <ctime>
#include <exception>
#include <sstream>

#include "afa/util/error.h"

namespace afa::serve {

namespace {

std::string a1111_timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d%H%M%S", &tm);
  return buf;
}

JobResult error_result(int status, const std::string& kind, const std::string& detail) {
  return {status, {{"error", kind}, {"detail", detail}}};
}

}  // namespace

bool JobControl::interrupted() const {
  std::lock_guard<std::mutex> lock(q_.mutex_);
  return q_.running_.interrupted;
}

void JobControl::check_cancelled() const {
  {
    std::lock_guard<std::mutex> lock(q_.mutex_);
    if (q_.stopping_) throw JobCancelled{503, "the server is shutting down"};
  }
  if (Clock::now() > deadline_) {
    std::ostringstream s;
    s << "the request time limit of " << limit_seconds_ << " s (queue wait included) was reached";
    throw JobCancelled{504, s.str()};
  }
}

void JobControl::report(int64_t job_no, int64_t job_count, int64_t step, int64_t steps) const {
  std::lock_guard<std::mutex> lock(q_.mutex_);
  q_.running_.job_no = job_no;
  q_.running_.job_count = job_count;
  q_.running_.sampling_step = step;
  q_.running_.sampling_steps = steps;
}

JobQueue::JobQueue(size_t max_waiting, double time_limit_seconds)
    : max_waiting_(max_waiting), time_limit_(time_limit_seconds) {
  worker_ = std::thread([this] { worker_loop(); });
}

JobQueue::~JobQueue() { shutdown(); }

std::optional<JobQueue::Ticket> JobQueue::submit(JobWork work) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_ || waiting_.size() >= max_waiting_) return std::nullopt;
  auto job = std::make_unique<Job>();
  job->id = next_id_++;
  job->work = std::move(work);
  job->submitted = Clock::now();
  Ticket t{job->id, job->promise.get_future()};
  waiting_.push_back(std::move(job));
  wake_.notify_one();
  return t;
}

bool JobQueue::interrupt() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!running_.busy) return false;
  running_.interrupted = true;
  return true;
}

void JobQueue::shutdown() {
  std::deque<std::unique_ptr<Job>> dropped;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    dropped.swap(waiting_);
    wake_.notify_all();
  }
  for (auto& j : dropped) j->promise.set_value(error_result(503, "shutting down", "the server is shutting down"));
  if (worker_.joinable() && worker_.get_id() != std::this_thread::get_id()) worker_.join();
}

bool JobQueue::shutting_down() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stopping_;
}

Progress JobQueue::progress() const {
  std::lock_guard<std::mutex> lock(mutex_);
  Progress p = running_;
  p.waiting = waiting_.size();
  if (p.busy) p.elapsed_seconds = std::chrono::duration<double>(Clock::now() - running_start_).count();
  return p;
}

int JobQueue::retry_after_seconds() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return std::max(1, int(std::ceil(last_duration_)));
}

void JobQueue::worker_loop() {
  for (;;) {
    std::unique_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !waiting_.empty(); });
      if (stopping_) return;  // shutdown() answers the waiting jobs
      job = std::move(waiting_.front());
      waiting_.pop_front();
      running_ = Progress{};
      running_.busy = true;
      running_.job_id = job->id;
      running_.job_timestamp = a1111_timestamp();
      running_start_ = Clock::now();
    }
    run(*job);
    std::lock_guard<std::mutex> lock(mutex_);
    last_duration_ = std::chrono::duration<double>(Clock::now() - running_start_).count();
    running_ = Progress{};
  }
}

void JobQueue::run(Job& job) {
  const auto deadline = job.submitted + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(time_limit_));
  uint64_t run_no;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    run_no = ++runs_;
  }
  JobControl control(*this, job.id, run_no, deadline, time_limit_);
  JobResult result;
  try {
    control.check_cancelled();  // past its limit while it waited
    result = job.work(control);
  } catch (const JobCancelled& c) {
    result = error_result(c.status, c.status == 504 ? "timeout" : "shutting down", c.reason);
  } catch (const afa::Error& e) {
    // What the settings cause at run time (e.g. more memory than the machine has, diverging latents).
    result = error_result(422, "generation failed", e.what());
  } catch (const std::bad_alloc&) {
    result = error_result(500, "out of memory", "out of memory");
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    result = error_result(500, "internal error", what.substr(0, what.find('\n')));
  } catch (const std::exception& e) {
    result = error_result(500, "internal error", e.what());
  }
  job.promise.set_value(std::move(result));
}

}  // namespace afa::serve
