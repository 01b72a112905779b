// The server's one-at-a-time work: a bounded FIFO of jobs run by a single worker thread, since the
// resident models can run one generation at a time. HTTP threads submit and wait; the worker runs each
// job with a JobControl through which the job reports progress and learns that it should stop:
//   interrupt  (POST /sdapi/v1/interrupt)  the running job ends its sampling early, keeping what it has,
//   cancel     (time limit, shutdown)      the job is abandoned at its next step (JobCancelled).
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace afa::serve {

using Clock = std::chrono::steady_clock;

// What a job answers: an HTTP status and a JSON body.
struct JobResult {
  int status = 200;
  nlohmann::json body;
};

// Thrown by JobControl::check_cancelled(): the job ends without a result of its own.
struct JobCancelled {
  int status;          // 504 (time limit) or 503 (shutdown)
  std::string reason;
};

// The running job's progress, for GET /sdapi/v1/progress (A1111's fields).
struct Progress {
  bool busy = false;
  uint64_t job_id = 0;
  int64_t job_no = 0, job_count = 0;               // batch (n_iter) index and count
  int64_t sampling_step = 0, sampling_steps = 0;
  bool interrupted = false;
  double elapsed_seconds = 0;
  std::string job_timestamp;                       // A1111's "%Y%m%d%H%M%S" of the job's start
  size_t waiting = 0;                              // jobs in the queue behind it
};

class JobQueue;

// The running job's side of the queue.
class JobControl {
 public:
  // POST /sdapi/v1/interrupt arrived while this job ran.
  bool interrupted() const;
  // Throws JobCancelled past the job's time limit or when the server shuts down.
  void check_cancelled() const;
  // Batch `job_no` of `job_count`, `step` of `steps` done.
  void report(int64_t job_no, int64_t job_count, int64_t step, int64_t steps) const;
  // The job's number: 1, 2, ... in the order the jobs were queued.
  uint64_t job_id() const { return id_; }
  // 1, 2, ... in the order the jobs started running (the same as job_id(): the queue is first in, first out).
  uint64_t run_no() const { return run_no_; }

 private:
  friend class JobQueue;
  JobControl(JobQueue& q, uint64_t id, uint64_t run_no, Clock::time_point deadline, double limit_seconds)
      : q_(q), id_(id), run_no_(run_no), deadline_(deadline), limit_seconds_(limit_seconds) {}
  JobQueue& q_;
  uint64_t id_, run_no_;
  Clock::time_point deadline_;
  double limit_seconds_;
};

using JobWork = std::function<JobResult(const JobControl&)>;

class JobQueue {
 public:
  // `max_waiting`: jobs that may wait behind the running one; `time_limit_seconds`: from submission
  // (queue time included) to the end of the job.
  JobQueue(size_t max_waiting, double time_limit_seconds);
  ~JobQueue();
  JobQueue(const JobQueue&) = delete;
  JobQueue& operator=(const JobQueue&) = delete;

  struct Ticket {
    uint64_t id = 0;
    std::future<JobResult> result;
  };
  // Queues `work`; nullopt when the queue is full or the server is shutting down.
  std::optional<Ticket> submit(JobWork work);
  // Interrupts the running job (a no-op when idle, as A1111's). Returns whether one was running.
  bool interrupt();
  // Stops taking jobs, cancels the waiting ones (503) and the running one at its next step, and joins
  // the worker. Idempotent.
  void shutdown();
  bool shutting_down() const;

  Progress progress() const;
  // Seconds a client should wait before retrying when the queue is full: the last job's duration.
  int retry_after_seconds() const;
  double time_limit_seconds() const { return time_limit_; }
  size_t max_waiting() const { return max_waiting_; }

 private:
  friend class JobControl;
  struct Job {
    uint64_t id;
    JobWork work;
    Clock::time_point submitted;
    std::promise<JobResult> promise;
  };
  void worker_loop();
  void run(Job& job);

  const size_t max_waiting_;
  const double time_limit_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Job>> waiting_;
  bool stopping_ = false;
  uint64_t next_id_ = 1, runs_ = 0;
  Progress running_;                    // guarded by mutex_
  Clock::time_point running_start_;
  double last_duration_ = 0;
  std::thread worker_;
};

}  // namespace afa::serve
