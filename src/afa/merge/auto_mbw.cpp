#include "afa/merge/auto_mbw.h"

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "afa/util/error.h"

namespace afa::merge {

std::vector<int> default_search_order() {
  std::vector<int> o = {0, block_index("M00")};
  for (int i = 1; i <= 12; ++i) o.push_back(i);
  for (int i = 14; i < kNumBlocks; ++i) o.push_back(i);
  return o;
}

namespace {

// Values on the step grid print and compare exactly: round to 1e-9.
double snap(double v) { return std::round(v * 1e9) / 1e9; }

class Trials {
 public:
  Trials(const BlockScorer& score, const SearchOptions& o, SearchResult& r,
         const std::function<void(const SearchResult&)>& on_best)
      : score_(score), o_(o), r_(r), on_best_(on_best) {
    if (o.log_path.empty()) return;
    std::ifstream f(o.log_path);
    std::string line;
    int64_t n = 0;
    while (std::getline(f, line)) {
      ++n;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      AFA_CHECK(!j.is_discarded() && j.contains("weights") && j.contains("score"), o.log_path, ", line ", n,
                ": not a search log entry");
      seen_[j["weights"].get<std::string>()] = j["score"].get<double>();
    }
    log_.open(o.log_path, std::ios::app);
    AFA_CHECK(log_.good(), "cannot write the search log ", o.log_path);
  }

  // The score of w; false when the budget stops the search.
  bool eval(const BlockWeights& w, double& s) {
    const std::string key = w.to_string();
    auto it = seen_.find(key);
    if (it != seen_.end()) {
      s = it->second;
      ++r_.replayed;
    } else {
      if (o_.budget > 0 && r_.trials >= o_.budget) {
        r_.budget_exhausted = true;
        return false;
      }
      s = score_(w);
      ++r_.trials;
      seen_[key] = s;
      if (log_.is_open()) log_ << nlohmann::json{{"weights", key}, {"score", s}}.dump() << "\n" << std::flush;
    }
    if (!any_ || s > r_.best_score) {
      any_ = true;
      r_.best = w;
      r_.best_score = s;
      if (on_best_) on_best_(r_);
    }
    return true;
  }

 private:
  const BlockScorer& score_;
  const SearchOptions& o_;
  SearchResult& r_;
  const std::function<void(const SearchResult&)>& on_best_;
  std::map<std::string, double> seen_;
  std::ofstream log_;
  bool any_ = false;
};

}  // namespace

SearchResult search_block_weights(const BlockScorer& score, const SearchOptions& o,
                                  const std::function<void(const SearchResult&)>& on_best) {
  AFA_CHECK(o.step > 0 && o.step <= 1, "search step must be in (0, 1], not ", o.step);
  SearchResult r;
  Trials trials(score, o, r, on_best);
  BlockWeights cur = o.start;
  double s = 0;
  if (!trials.eval(cur, s)) return r;
  const std::vector<int> order = o.order.empty() ? default_search_order() : o.order;
  for (int b : order) {
    AFA_CHECK(b >= 0 && b < kNumBlocks, "search order: no block ", b);
    cur = r.best;
    if (!o.mid_pass) {
      const int steps = static_cast<int>(std::round(1.0 / o.step));
      for (int k = 0; k <= steps; ++k) {
        BlockWeights w = cur;
        w.alpha[b] = snap(std::min(1.0, k * o.step));
        if (!trials.eval(w, s)) return r;
      }
      continue;
    }
    // Mid pass: the interval [lo, hi] around the best value, halved each round.
    double lo = 0, hi = 1, mid = 0.5;
    BlockWeights w = cur;
    w.alpha[b] = mid;
    double best_here;
    if (!trials.eval(w, best_here)) return r;
    while ((hi - lo) / 2 >= o.step - 1e-12) {
      const double q = (hi - lo) / 4;
      double left_s, right_s;
      BlockWeights left = cur, right = cur;
      left.alpha[b] = snap(mid - q);
      right.alpha[b] = snap(mid + q);
      if (!trials.eval(left, left_s) || !trials.eval(right, right_s)) return r;
      if (left_s > best_here && left_s >= right_s) {
        hi = mid, mid = left.alpha[b], best_here = left_s;
      } else if (right_s > best_here) {
        lo = mid, mid = right.alpha[b], best_here = right_s;
      } else {
        lo = mid - q, hi = mid + q;
      }
    }
  }
  return r;
}

}  // namespace afa::merge
