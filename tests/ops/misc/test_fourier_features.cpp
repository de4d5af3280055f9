// ops::fourier_features: the forward against a direct transcription of the reference (section 2),
// float against double at the cpu64 shape, the gradients to t and weight in double (through the
// normalisation, a user transform and the amplitude ramp), the initialiser, argument checks.

#include <algorithm>
#include <cmath>
#include <memory>
#include <numbers>
#include <vector>

#include <imbdef/ops/fourier_features.hpp>

#include "support.hpp"

using namespace misc_test;

namespace {

// Straight from the reference: normalise t, T = M_r M_t U, transform freqs and phases, clamp the
// amplitude, sample sin on the grid, mix channels by weight / sqrt(C). std::sin per element.
tensor<double> reference(const tensor<double>& freqs, const tensor<double>& phases, const tensor<double>& t,
                         const tensor<double>& weight, const ops::fourier_features_params& p) {
    const index_t n = t.size(0), c = freqs.size(0), s = p.size;
    tensor<double> y(shape{n, c, s, s});
    std::vector<double> x(static_cast<std::size_t>(c * s * s));
    for (index_t i = 0; i < n; ++i) {
        const double rho = std::hypot(t(i, 0), t(i, 1));
        const double rc = t(i, 0) / rho, rs = t(i, 1) / rho, tx = t(i, 2) / rho, ty = t(i, 3) / rho;
        const double mr[3][3] = {{rc, -rs, 0}, {rs, rc, 0}, {0, 0, 1}};
        const double mt[3][3] = {{1, 0, -tx}, {0, 1, -ty}, {0, 0, 1}};
        double a[3][3] = {}, m[3][3] = {};
        for (int r = 0; r < 3; ++r)
            for (int k = 0; k < 3; ++k)
                for (int j = 0; j < 3; ++j) a[r][k] += mr[r][j] * mt[j][k];
        for (int r = 0; r < 3; ++r)
            for (int k = 0; k < 3; ++k)
                for (int j = 0; j < 3; ++j) m[r][k] += a[r][j] * p.transform[static_cast<std::size_t>(3 * j + k)];
        for (index_t ch = 0; ch < c; ++ch) {
            const double fx = freqs(ch, 0) * m[0][0] + freqs(ch, 1) * m[1][0];
            const double fy = freqs(ch, 0) * m[0][1] + freqs(ch, 1) * m[1][1];
            const double ph = phases[ch] + freqs(ch, 0) * m[0][2] + freqs(ch, 1) * m[1][2];
            const double amp = std::clamp(
                1 - (std::hypot(fx, fy) - p.bandwidth) / (p.sampling_rate / 2 - p.bandwidth), 0.0, 1.0);
            for (index_t h = 0; h < s; ++h)
                for (index_t w = 0; w < s; ++w) {
                    const double gx = (static_cast<double>(w) + 0.5 - static_cast<double>(s) / 2) / p.sampling_rate;
                    const double gy = (static_cast<double>(h) + 0.5 - static_cast<double>(s) / 2) / p.sampling_rate;
                    x[static_cast<std::size_t>((ch * s + h) * s + w)] =
                        std::sin(2 * std::numbers::pi * (gx * fx + gy * fy + ph)) * amp;
                }
        }
        for (index_t o = 0; o < c; ++o)
            for (index_t px = 0; px < s * s; ++px) {
                double acc = 0;
                for (index_t ch = 0; ch < c; ++ch)
                    acc += weight(o, ch) / std::sqrt(static_cast<double>(c)) * x[static_cast<std::size_t>(ch * s * s + px)];
                y[(i * c + o) * s * s + px] = acc;
            }
    }
    return y;
}

struct setup {
    tensor<double> freqs, phases, t, weight;
    ops::fourier_features_params params;
};

// Random t away from the identity (rotation, translation, a norm other than 1), frequencies from
// the initialiser, a random weight.
setup make_setup(index_t n, index_t c, const ops::fourier_features_params& params, std::uint64_t stream,
                 double freq_scale = 1.0) {
    setup s{tensor<double>(shape{c, 2}), tensor<double>(shape{c}), normal_tensor<double>(shape{n, 4}, stream),
            normal_tensor<double>(shape{c, c}, stream + 1), params};
    ops::fourier_features_init(s.freqs.view(), s.phases.view(), params.bandwidth * freq_scale,
                               core::philox_stream{7, stream});
    for (index_t i = 0; i < n; ++i) s.t(i, 0) += 1.5;  // keep |t[0:2]| well away from 0
    return s;
}

ops::fourier_features_params ramp_params() {
    // rate 4, bandwidth 1: amp ramps down over |f'| in (1, 2); frequencies drawn in the disc of
    // radius 2.5 put channels on the ramp, in band and clamped to 0.
    ops::fourier_features_params p{.size = 6, .sampling_rate = 4, .bandwidth = 1};
    p.transform = {1.1, 0.2, 0.3, -0.1, 0.9, -0.2, 0, 0, 1};
    return p;
}

tst::gradient_problem problem(const setup& s) {
    tst::gradient_problem p;
    p.add_data("t", s.t.clone()).add_parameter("weight", s.weight.clone());
    auto freqs = std::make_shared<tensor<double>>(s.freqs.clone());
    auto phases = std::make_shared<tensor<double>>(s.phases.clone());
    const auto params = s.params;
    p.forward = [=](tst::input_views in) {
        tensor<double> y(ops::fourier_features_output_shape(in[0].size(0), freqs->size(0), params));
        ops::fourier_features(*freqs, *phases, in[0], in[1], y.view(), params);
        return y;
    };
    p.backward = [=](tst::input_views in, const_view<double> dy, tst::grad_views dx, grad_mode dm, grad_mode pm) {
        ops::fourier_features_backward(*freqs, *phases, in[0], in[1], dy, dx[0], dm, dx[1], pm, params);
    };
    return p;
}

}  // namespace

TEST_CASE("fourier_features forward equals the reference formulation") {
    const ops::fourier_features_params small{.size = 7, .sampling_rate = 5, .bandwidth = 1.5};
    const setup cases[] = {make_setup(3, 5, small, 1), make_setup(1, 1, {.size = 1}, 3),
                           make_setup(2, 4, ramp_params(), 5, 2.5),
                           make_setup(2, 8, ops::fourier_features_params{}, 7)};
    for (const auto& s : cases) {
        CAPTURE(s.freqs.size(0));
        tensor<double> y(ops::fourier_features_output_shape(s.t.size(0), s.freqs.size(0), s.params));
        ops::fourier_features(s.freqs, s.phases, s.t, s.weight, y.view(), s.params);
        CHECK(max_rel_diff(y, reference(s.freqs, s.phases, s.t, s.weight, s.params)) < 1e-12);
    }
}

TEST_CASE("fourier_features at the identity transform is sin(2 pi (g . f + phase)) mixed by weight / sqrt(C)") {
    // t = (1, 0, 0, 0) (the affine layer's initial output) and weight = sqrt(C) I: y is x itself.
    const index_t c = 3, s = 5;
    setup st = make_setup(1, c, {.size = s}, 9);
    st.t = tensor<double>(shape{1, 4}, {2.0, 0.0, 0.0, 0.0});  // normalised to (1, 0, 0, 0)
    st.weight = tensor<double>(shape{c, c});
    for (index_t i = 0; i < c; ++i) st.weight(i, i) = std::sqrt(3.0);
    tensor<double> y(shape{1, c, s, s});
    ops::fourier_features(st.freqs, st.phases, st.t, st.weight, y.view(), st.params);
    for (index_t ch = 0; ch < c; ++ch)
        for (index_t h = 0; h < s; ++h)
            for (index_t w = 0; w < s; ++w) {
                const double gx = (static_cast<double>(w) + 0.5 - 2.5) / 16, gy = (static_cast<double>(h) + 0.5 - 2.5) / 16;
                const double expected =
                    std::sin(2 * std::numbers::pi * (gx * st.freqs(ch, 0) + gy * st.freqs(ch, 1) + st.phases[ch]));
                CHECK(y(0, ch, h, w) == doctest::Approx(expected).epsilon(1e-13));
            }
}

TEST_CASE("fourier_features in float agrees with double at the cpu64 shape") {
    const setup s = make_setup(2, 128, ops::fourier_features_params{}, 11);
    tensor<double> y(shape{2, 128, 36, 36});
    ops::fourier_features(s.freqs, s.phases, s.t, s.weight, y.view(), s.params);
    tensor<float> yf(y.shape());
    ops::fourier_features(convert<float>(s.freqs), convert<float>(s.phases), convert<float>(s.t),
                          convert<float>(s.weight), yf.view(), s.params);
    CHECK(max_rel_diff(yf, y) < 2e-5);

    const tensor<double> dy = normal_tensor<double>(y.shape(), 12);
    tensor<double> dt(s.t.shape()), dw(s.weight.shape());
    ops::fourier_features_backward(s.freqs, s.phases, s.t, s.weight, dy, dt.view(), grad_mode::assign, dw.view(),
                                   grad_mode::assign, s.params);
    tensor<float> dtf(dt.shape()), dwf(dw.shape());
    ops::fourier_features_backward(convert<float>(s.freqs), convert<float>(s.phases), convert<float>(s.t),
                                   convert<float>(s.weight), convert<float>(dy), dtf.view(), grad_mode::assign,
                                   dwf.view(), grad_mode::assign, s.params);
    double dt_scale = 0;
    for (double v : dt) dt_scale = std::max(dt_scale, std::abs(v));
    for (index_t i = 0; i < dt.numel(); ++i) CHECK(std::abs(dtf[i] - dt[i]) <= 1e-4 * dt_scale);
    CHECK(max_rel_diff(dwf, dw) < 1e-3);
}

TEST_CASE("fourier_features backward to t and weight agrees with finite differences (double)") {
    const setup cases[] = {
        make_setup(1, 1, {.size = 1, .sampling_rate = 4, .bandwidth = 1}, 20),
        make_setup(3, 5, {.size = 7, .sampling_rate = 5, .bandwidth = 1.5}, 22),
        make_setup(2, 4, ramp_params(), 24, 2.5),
    };
    for (const auto& s : cases) {
        CAPTURE(s.freqs.size(0));
        const auto r = tst::check_gradients(problem(s));
        CHECK_MESSAGE(r.ok, r.to_string());
    }
    // The ramp case must really exercise the three amplitude regimes.
    const setup& ramp = cases[2];
    int in_band = 0, on_ramp = 0, clamped = 0;
    for (index_t c = 0; c < ramp.freqs.size(0); ++c) {
        const double r = std::hypot(ramp.freqs(c, 0), ramp.freqs(c, 1));
        in_band += r < 0.9;
        on_ramp += r > 1.1 && r < 1.9;
        clamped += r > 2.1;
    }
    CHECK(in_band + on_ramp + clamped >= 3);
}

TEST_CASE("fourier_features backward at the cpu64 width on a subset of elements (double)") {
    const setup s = make_setup(2, 16, ops::fourier_features_params{.size = 12}, 30);
    tst::gradient_check_options o;
    o.max_elements_per_input = 24;
    const auto r = tst::check_gradients(problem(s), o);
    CHECK_MESSAGE(r.ok, r.to_string());
}

TEST_CASE("fourier_features_init draws frequencies uniform in the disc and phases in (-0.5, 0.5)") {
    const index_t c = 20000;
    tensor<double> freqs(shape{c, 2}), phases(shape{c});
    const core::philox_stream rng{42, 3};
    const std::uint64_t next = ops::fourier_features_init(freqs.view(), phases.view(), 2.0, rng, 100);
    CHECK(next == 100 + 3 * static_cast<std::uint64_t>(c));
    double mean_r2 = 0, mean_phase = 0, mean_cos = 0;
    for (index_t i = 0; i < c; ++i) {
        const double r2 = freqs(i, 0) * freqs(i, 0) + freqs(i, 1) * freqs(i, 1);
        CHECK(r2 < 4.0);
        CHECK(std::abs(phases[i]) < 0.5);
        mean_r2 += r2 / c;
        mean_phase += phases[i] / c;
        mean_cos += freqs(i, 0) / std::sqrt(r2) / c;
    }
    CHECK(mean_r2 == doctest::Approx(2.0).epsilon(0.02));  // E|f|^2 = bandwidth^2 / 2 in the disc
    CHECK(std::abs(mean_phase) < 0.01);
    CHECK(std::abs(mean_cos) < 0.02);

    // Element 0 from its normals by the reference's construction.
    tensor<double> z(shape{2});
    core::fill_normal<double>(z.view(), rng, 100);
    const double r = std::hypot(z[0], z[1]);
    CHECK(freqs(0, 0) == doctest::Approx(z[0] / (r * std::exp(r * r / 4)) * 2.0).epsilon(1e-14));
    CHECK(freqs(0, 1) == doctest::Approx(z[1] / (r * std::exp(r * r / 4)) * 2.0).epsilon(1e-14));
}

TEST_CASE("fourier_features rejects bad arguments, naming the op and both values") {
    const tensor<float> freqs(shape{4, 2}), phases(shape{4}), t(shape{2, 4}, 1.0f), weight(shape{4, 4});
    tensor<float> y(shape{2, 4, 36, 36});
    const tensor<float> bad_phases(shape{3});
    CHECK(message_of([&] { ops::fourier_features(freqs, bad_phases, t, weight, y.view()); }) ==
          "ops::fourier_features: expected phases of shape [4] ([C] for the C = 4 rows of freqs), found phases of "
          "shape [3]");
    tensor<float> bad_y(shape{2, 4, 35, 35});
    CHECK(message_of([&] { ops::fourier_features(freqs, phases, t, weight, bad_y.view()); }) ==
          "ops::fourier_features: expected y of shape [2, 4, 36, 36] ([N, C, size, size]), found y of shape [2, 4, "
          "35, 35]");
    const tensor<float> bad_t(shape{2, 3});
    CHECK(contains(message_of([&] { ops::fourier_features(freqs, phases, bad_t, weight, y.view()); }),
                   "expected t of shape [N, 4] (r_c, r_s, t_x, t_y), found t of shape [2, 3]"));
    CHECK(contains(message_of([&] {
                       ops::fourier_features(freqs, phases, t, weight, y.view(),
                                             {.size = 36, .sampling_rate = 16, .bandwidth = 8});
                   }),
                   "expected 0 < bandwidth < sampling_rate / 2"));
    tensor<float> dt(shape{2, 4}), dw(shape{4, 3});
    CHECK(message_of([&] {
              ops::fourier_features_backward(freqs, phases, t, weight, y, dt.view(), grad_mode::assign, dw.view(),
                                             grad_mode::accumulate);
          }) == "ops::fourier_features_backward: expected dweight of shape [4, 4] (the shape of weight), found "
                "dweight of shape [4, 3]");
    CHECK_NOTHROW(ops::fourier_features_backward(freqs, phases, t, weight, y, dt.view(), grad_mode::assign,
                                                 core::view<float>{}, grad_mode::none));
}
