// Bit-exact re-implementations of the numpy (1.24) and scipy routines diffusers uses to build timesteps and
// sigmas, so the float64 values (and the float32 values cast from them) agree exactly with Python.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace afa::schedulers::np {

// np.linspace(start, stop, num) with endpoint=True: i * ((stop - start) / (num - 1)) + start, last = stop.
std::vector<double> linspace(double start, double stop, int64_t num);
// np.arange(start, stop, step) for floats: a[0] = start, a[1] = start + step, then start + i * (a[1] - a[0]).
std::vector<double> arange(double start, double stop, double step);
// np.round: round half to even.
double round(double x);
std::vector<double> round(std::vector<double> v);
// np.interp(x, xp, fp) for increasing xp (numpy's arr_interp, including its exact-hit shortcuts).
std::vector<double> interp(const std::vector<double>& x, const std::vector<double>& xp, const std::vector<double>& fp);

// diffusers' _convert_to_karras: (max^(1/7) + ramp * (min^(1/7) - max^(1/7)))^7 over ramp = linspace(0, 1, n),
// with sigma_min = in_sigmas.back() and sigma_max = in_sigmas.front() (whatever their order).
std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int64_t num_inference_steps);
// diffusers' _sigma_to_t with float32 log_sigmas (numpy 1.24 value-based casting keeps the interpolation
// weight in float32; the final blend is float64).
double sigma_to_t(double sigma, const std::vector<float>& log_sigmas);

// scipy.integrate.quad(f, a, b, epsrel=1e-4) for the smooth, low-degree integrands of LMS: QUADPACK's
// 21-point Gauss-Kronrod rule (dqk21), which is what dqagse returns when its first estimate is accepted,
// and plain adaptive bisection otherwise.
double quad(const std::function<double(double)>& f, double a, double b, double epsabs = 1.49e-8, double epsrel = 1e-4);

}  // namespace afa::schedulers::np
