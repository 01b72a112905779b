#include "afa/schedulers/numpy_compat.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "afa/util/error.h"

namespace afa::schedulers::np {

std::vector<double> linspace(double start, double stop, int64_t num) {
  AFA_CHECK(num >= 0, "linspace: negative count ", num);
  std::vector<double> y(static_cast<size_t>(num));
  if (num == 0) return y;
  if (num == 1) {
    y[0] = start;
    return y;
  }
  const double div = static_cast<double>(num - 1);
  const double delta = stop - start;
  const double step = delta / div;
  for (int64_t i = 0; i < num; ++i) {
    // numpy: y = arange(num) * step; y += start (two roundings, kept separate on purpose).
    double v = static_cast<double>(i) * step;
    y[i] = v + start;
  }
  y[num - 1] = stop;
  return y;
}

std::vector<double> arange(double start, double stop, double step) {
  AFA_CHECK(step != 0, "arange: zero step");
  const double len_d = std::ceil((stop - start) / step);
  std::vector<double> a;
  if (!(len_d > 0)) return a;
  const auto len = static_cast<size_t>(len_d);
  a.resize(len);
  a[0] = start;
  if (len == 1) return a;
  a[1] = start + step;
  const double delta = a[1] - a[0];  // numpy's fill re-derives the step from the first two values
  for (size_t i = 2; i < len; ++i) a[i] = start + static_cast<double>(i) * delta;
  return a;
}

double round(double x) { return std::nearbyint(x); }  // default rounding mode: to nearest, ties to even

std::vector<double> round(std::vector<double> v) {
  for (double& x : v) x = round(x);
  return v;
}

std::vector<double> interp(const std::vector<double>& x, const std::vector<double>& xp, const std::vector<double>& fp) {
  AFA_CHECK(!xp.empty() && xp.size() == fp.size(), "interp: xp and fp must be non-empty and of equal length");
  const size_t n = xp.size();
  std::vector<double> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double xv = x[i];
    if (std::isnan(xv)) {
      out[i] = xv;
      continue;
    }
    if (xv > xp[n - 1]) {
      out[i] = fp[n - 1];
      continue;
    }
    if (xv < xp[0]) {
      out[i] = fp[0];
      continue;
    }
    // j with xp[j] <= xv < xp[j+1] (or j = n-1 when xv == xp[n-1]).
    size_t j = static_cast<size_t>(std::upper_bound(xp.begin(), xp.end(), xv) - xp.begin()) - 1;
    if (j == n - 1 || xp[j] == xv) {
      out[i] = fp[j];
      continue;
    }
    const double slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
    double r = slope * (xv - xp[j]) + fp[j];
    if (std::isnan(r)) {
      r = slope * (xv - xp[j + 1]) + fp[j + 1];
      if (std::isnan(r) && fp[j] == fp[j + 1]) r = fp[j];
    }
    out[i] = r;
  }
  return out;
}

std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int64_t num_inference_steps) {
  const double rho = 7.0;  // the value used in the paper
  const std::vector<double> ramp = linspace(0, 1, num_inference_steps);
  const double min_inv_rho = std::pow(sigma_min, 1 / rho);
  const double max_inv_rho = std::pow(sigma_max, 1 / rho);
  std::vector<double> sigmas(ramp.size());
  for (size_t i = 0; i < ramp.size(); ++i)
    sigmas[i] = std::pow(max_inv_rho + ramp[i] * (min_inv_rho - max_inv_rho), rho);
  return sigmas;
}

double sigma_to_t(double sigma, const std::vector<float>& log_sigmas) {
  const int64_t n = static_cast<int64_t>(log_sigmas.size());
  AFA_CHECK(n >= 2, "sigma_to_t: need at least two sigmas");
  const double log_sigma = std::log(sigma);
  // dists = log_sigma - log_sigmas is float32 (a float64 scalar does not upcast a float32 array), and
  // argmax(cumsum(dists >= 0)) is the last index whose log sigma is <= log_sigma (0 when none is).
  const float log_sigma_f = static_cast<float>(log_sigma);
  int64_t low_idx = 0;
  for (int64_t i = 0; i < n; ++i)
    if (log_sigma_f - log_sigmas[i] >= 0.0f) low_idx = i;
  low_idx = std::min(low_idx, n - 2);
  const int64_t high_idx = low_idx + 1;
  const float low = log_sigmas[low_idx];
  const float high = log_sigmas[high_idx];
  float w = (low - log_sigma_f) / (low - high);
  w = std::min(std::max(w, 0.0f), 1.0f);
  // (1 - w) stays float32; the products with the int64 indices are float64.
  const float one_minus_w = 1.0f - w;
  return static_cast<double>(one_minus_w) * static_cast<double>(low_idx) +
         static_cast<double>(w) * static_cast<double>(high_idx);
}

namespace {

// QUADPACK dqk21: 21-point Kronrod rule with the embedded 10-point Gauss rule.
const double kXgk[11] = {0.995657163025808080735527280689003, 0.973906528517171720077964012084452,
                         0.930157491355708226001207180059508, 0.865063366688984510732096688423493,
                         0.780817726586416897063717578345042, 0.679409568299024406234327365114874,
                         0.562757134668604683339000099272694, 0.433395394129247190799265943165784,
                         0.294392862701460198131126603103866, 0.148874338981631210884826001129720,
                         0.000000000000000000000000000000000};
const double kWgk[11] = {0.011694638867371874278064396062192, 0.032558162307964727478818972459390,
                         0.054755896574351996031381300244580, 0.075039674810919952767043140916190,
                         0.093125454583697605535065465083366, 0.109387158802297641899210590325805,
                         0.123491976262065851077208067619910, 0.134709217311473325928054001771707,
                         0.142775938577060080797094273138717, 0.147739104901338491374841515972068,
                         0.149445554002916905664936468389821};
const double kWg[5] = {0.066671344308688137593568809893332, 0.149451349150580593145776339657697,
                       0.219086362515982043995534934228163, 0.269266719309996355091226921569469,
                       0.295524224714752870173892994651338};

struct QkResult {
  double result, abserr, resabs, resasc;
};

QkResult qk21(const std::function<double(double)>& f, double a, double b) {
  const double epmach = std::numeric_limits<double>::epsilon();
  const double uflow = std::numeric_limits<double>::min();
  const double centr = 0.5 * (a + b);
  const double hlgth = 0.5 * (b - a);
  const double dhlgth = std::fabs(hlgth);
  double resg = 0.0;
  const double fc = f(centr);
  double resk = kWgk[10] * fc;
  double resabs = std::fabs(resk);
  double fv1[10], fv2[10];
  for (int j = 1; j <= 5; ++j) {
    const int jtw = 2 * j - 1;  // Fortran index 2j (0-based 2j-1)
    const double absc = hlgth * kXgk[jtw];
    const double fval1 = f(centr - absc);
    const double fval2 = f(centr + absc);
    fv1[jtw] = fval1;
    fv2[jtw] = fval2;
    const double fsum = fval1 + fval2;
    resg = resg + kWg[j - 1] * fsum;
    resk = resk + kWgk[jtw] * fsum;
    resabs = resabs + kWgk[jtw] * (std::fabs(fval1) + std::fabs(fval2));
  }
  for (int j = 1; j <= 5; ++j) {
    const int jtwm1 = 2 * j - 2;  // Fortran index 2j-1
    const double absc = hlgth * kXgk[jtwm1];
    const double fval1 = f(centr - absc);
    const double fval2 = f(centr + absc);
    fv1[jtwm1] = fval1;
    fv2[jtwm1] = fval2;
    const double fsum = fval1 + fval2;
    resk = resk + kWgk[jtwm1] * fsum;
    resabs = resabs + kWgk[jtwm1] * (std::fabs(fval1) + std::fabs(fval2));
  }
  const double reskh = resk * 0.5;
  double resasc = kWgk[10] * std::fabs(fc - reskh);
  for (int j = 0; j < 10; ++j) resasc = resasc + kWgk[j] * (std::fabs(fv1[j] - reskh) + std::fabs(fv2[j] - reskh));
  QkResult r;
  r.result = resk * hlgth;
  resabs = resabs * dhlgth;
  resasc = resasc * dhlgth;
  double abserr = std::fabs((resk - resg) * hlgth);
  if (resasc != 0.0 && abserr != 0.0) abserr = resasc * std::min(1.0, std::pow(200.0 * abserr / resasc, 1.5));
  if (resabs > uflow / (50.0 * epmach)) abserr = std::max((epmach * 50.0) * resabs, abserr);
  r.abserr = abserr;
  r.resabs = resabs;
  r.resasc = resasc;
  return r;
}

}  // namespace

double quad(const std::function<double(double)>& f, double a, double b, double epsabs, double epsrel) {
  // dqagse's first pass: accept the single 21-point estimate when its error is small enough.
  const QkResult first = qk21(f, a, b);
  double errbnd = std::max(epsabs, epsrel * std::fabs(first.result));
  // (dqagse names dqk21's resabs "defabs" and its resasc "resabs"; ier = 2, round-off, also returns.)
  const bool roundoff = first.abserr <= 100.0 * std::numeric_limits<double>::epsilon() * first.resabs &&
                        first.abserr > errbnd;
  if (roundoff || (first.abserr <= errbnd && first.abserr != first.resasc) || first.abserr == 0.0)
    return first.result;
  // Otherwise bisect the interval with the largest error until the summed error is small enough. (The
  // polynomial integrands of LMS never get here; this keeps quad usable for anything else.)
  struct Piece {
    double a, b, result, err;
  };
  std::vector<Piece> pieces{{a, b, first.result, first.abserr}};
  for (int it = 0; it < 50; ++it) {
    auto worst = std::max_element(pieces.begin(), pieces.end(),
                                  [](const Piece& x, const Piece& y) { return x.err < y.err; });
    const Piece p = *worst;
    pieces.erase(worst);
    const double mid = 0.5 * (p.a + p.b);
    const QkResult l = qk21(f, p.a, mid), r = qk21(f, mid, p.b);
    pieces.push_back({p.a, mid, l.result, l.abserr});
    pieces.push_back({mid, p.b, r.result, r.abserr});
    double sum = 0, err = 0;
    for (const Piece& q : pieces) {
      sum += q.result;
      err += q.err;
    }
    errbnd = std::max(epsabs, epsrel * std::fabs(sum));
    if (err <= errbnd) return sum;
  }
  double sum = 0;
  for (const Piece& q : pieces) sum += q.result;
  return sum;
}

}  // namespace afa::schedulers::np
