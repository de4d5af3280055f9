// ops::filtered_lrelu: equal to the composition upfirdn2d -> bias/act/clamp -> upfirdn2d at the
// layer configurations of the presets (up 2 / down 2 with 12 taps, up 4 / down 2 with 24 / 12 taps,
// the crops (-6, -9) and (-11, -12), ToRGB, a radial 2-D fd), the saved mask, the backward pass
// against the composition of the transposed pieces, finite differences for x and b, the gradient
// contract and the argument checks.

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <imbdef/core.hpp>
#include <imbdef/ops/filtered_lrelu.hpp>
#include <imbdef/ops/fir.hpp>
#include <imbdef/ops/upfirdn2d.hpp>
#include <imbdef/testing.hpp>

#include "reference.hpp"

using namespace imbdef;
using core::grad_mode;
using core::index_t;
using core::shape;
using core::tensor;
using ops::filtered_lrelu_params;
namespace ref = resample_test;
namespace tst = imbdef::testing;

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

struct layer {
    std::string name;
    shape x;
    tensor<double> fu;
    tensor<double> fd;
    filtered_lrelu_params p;
};

filtered_lrelu_params params(int up, int down, index_t p0, index_t p1, double clamp, double gain = std::sqrt(2.0),
                             double slope = 0.2) {
    return {up, down, p0, p1, p0, p1, gain, slope, clamp, false};
}

// Filters from the schedule of reference section 8 (T-256 and lite-64 rows).
std::vector<layer> layers(bool small) {
    std::vector<layer> out;
    const index_t c = small ? 1 : 3;
    // up 2 / down 2, 12 taps, pad (9, 8): T-256 L0, 36 -> 38 (conv) -> 82 -> 36.
    out.push_back({"up2 down2 12 taps pad (9, 8)", small ? shape{1, 2, 6, 7} : shape{2, c, 38, 38},
                   ops::fir::lowpass(12, 2.0, 12.0, 32.0), ops::fir::lowpass(12, 2.0, 12.0, 32.0),
                   params(2, 2, 9, 8, 1.0)});
    // up 4 / down 2, 24 / 12 taps, pad (-6, -9): T-256 L3, 38 -> 114 -> 52.
    out.push_back({"up4 down2 24/12 taps pad (-6, -9)", small ? shape{1, 1, 13, 14} : shape{1, c, 38, 38},
                   ops::fir::lowpass(24, 4.0, 8.0, 64.0), ops::fir::lowpass(12, 5.657, 20.686, 64.0),
                   params(4, 2, -6, -9, 1.2)});
    // The margin crop (-11, -12): lite-64 L7, 86 -> 138 -> 64.
    out.push_back({"up2 down2 crop (-11, -12)", small ? shape{1, 1, 24, 23} : shape{1, c, 86, 86},
                   ops::fir::lowpass(12, 32.0, 14.794, 128.0), ops::fir::lowpass(12, 32.0, 14.794, 128.0),
                   params(2, 2, -11, -12, inf)});
    // ToRGB: no filters, slope 1, gain 1, clamp only.
    out.push_back({"ToRGB", small ? shape{1, 3, 3, 21} : shape{2, 3, 16, 17}, tensor<double>(), tensor<double>(),
                   params(1, 1, 0, 0, 0.9, 1.0, 1.0)});
    // Config R: radial 2-D fd, pads (11, 10) for k = 1.
    out.push_back({"radial fd up2 down2 pad (11, 10)", small ? shape{1, 2, 6, 6} : shape{1, c, 36, 36},
                   ops::fir::lowpass(12, 2.0, 12.0, 32.0), ops::fir::radial_lowpass(12, 2.0, 12.0, 32.0),
                   params(2, 2, 11, 10, 0.6)});
    // Awkward: a 2-D fu, odd sizes, asymmetric pads, flip, down 4, other slope and gain.
    {
        filtered_lrelu_params p{2, 2, 3, 1, 2, 4, 1.3, 0.1, 0.7, true};
        out.push_back({"2-D fu, flip, odd sizes", small ? shape{1, 1, 5, 7} : shape{2, 2, 9, 11},
                       ops::fir::setup_filter({1.0, 3.0, 3.0, 1.0}), ops::fir::lowpass(6, 0.3, 0.2, 2.0), p});
    }
    out.push_back({"up4 down4 odd taps", small ? shape{1, 1, 4, 5} : shape{1, 2, 10, 13},
                   ops::fir::lowpass(13, 5.0, 3.0, 32.0), ops::fir::lowpass(7, 0.3, 0.2, 2.0),
                   params(4, 4, 5, 6, 1.5)});
    out.push_back({"up1 down2", small ? shape{1, 2, 7, 6} : shape{1, 2, 21, 18}, ops::fir::lowpass(7, 0.3, 0.2, 2.0),
                   ops::fir::lowpass(6, 0.3, 0.2, 2.0), params(1, 2, 3, 3, inf, 1.0, 0.3)});
    // One-tap filters that are not the identity: the general path, not the elementwise one.
    out.push_back({"1-tap filters 2 and 0.5", small ? shape{1, 2, 3, 4} : shape{2, 3, 9, 10}, tensor<double>(shape{1}, {2.0}),
                   tensor<double>(shape{1}, {0.5}), params(1, 1, 0, 0, 0.8)});
    // More planes than one tile holds (16 floats, 8 doubles), the last tile partly filled.
    out.push_back({"21 planes: several tiles", small ? shape{1, 9, 5, 6} : shape{3, 7, 20, 19},
                   ops::fir::lowpass(12, 2.0, 12.0, 32.0), ops::fir::radial_lowpass(6, 5.0, 4.0, 32.0),
                   params(2, 2, 9, 8, 1.0)});
    return out;
}

template <class T>
struct op_result {
    tensor<T> y;
    tensor<std::uint8_t> mask;
};

template <class T>
op_result<T> run(const tensor<T>& x, const tensor<T>& fu, const tensor<T>& fd, const tensor<T>& b,
                 const filtered_lrelu_params& p) {
    op_result<T> r;
    r.y = tensor<T>(ops::filtered_lrelu_output_shape(x.shape(), fu.shape(), fd.shape(), p));
    r.mask = tensor<std::uint8_t>(ops::filtered_lrelu_mask_shape(x.shape(), fu.shape(), fd.shape(), p));
    ops::filtered_lrelu<T>(x, fu, fd, b, r.y.view(), r.mask.view(), p);
    return r;
}

// How far the reference pipeline's buffer z keeps from the activation's kinks (z = 0 and |a| =
// clamp), in units of its sensitivity to the inputs: S = the up-FIR of all-ones inputs through
// |fu| bounds how much z moves when one input (or b) moves by 1. Elements with S = 0 lie in the
// pad, out of reach.
double kink_margin(const tensor<double>& x, const tensor<double>& fu_in, const ref::lrelu_result& r,
                   const filtered_lrelu_params& p) {
    tensor<double> ones(x.shape(), 1.0);
    tensor<double> fu = ref::identity_if_empty(fu_in);
    for (double& v : fu) v = std::abs(v);
    const tensor<double> S = ref::upfirdn2d(ones, fu, ops::upfirdn2d_params{p.up, p.up, 1, 1, p.pad_x0, p.pad_x1,
                                                                           p.pad_y0, p.pad_y1, double(p.up) * p.up});
    double m = inf;
    for (index_t i = 0; i < r.z.numel(); ++i) {
        if (S[i] == 0.0) continue;
        const double z = r.z[i];
        double d = std::abs(z);
        if (std::isfinite(p.clamp)) {
            const double threshold = z < 0 ? p.clamp / (p.gain * p.slope) : p.clamp / p.gain;
            d = std::min(d, std::abs(std::abs(z) - threshold));
        }
        m = std::min(m, d / S[i]);
    }
    return m;
}

}  // namespace

TEST_CASE("filtered_lrelu equals upfirdn2d -> bias/act/clamp -> upfirdn2d") {
    int k = 0;
    for (const layer& L : layers(false)) {
        CAPTURE(L.name);
        const tensor<double> x = ref::normal(L.x, 10 + k);
        const tensor<double> b = ref::normal(shape{L.x[1]}, 20 + k, 0.3);
        ++k;
        const ref::lrelu_result expected = ref::filtered_lrelu(x, L.fu, L.fd, b, L.p);
        const op_result<double> got = run(x, L.fu, L.fd, b, L.p);
        REQUIRE(got.y.shape() == expected.y.shape());
        CHECK(ref::max_abs_diff(got.y, expected.y) <= 1e-12 * (1.0 + ref::max_abs(expected.y)));

        const op_result<float> gf = run(ref::cast<float>(x), ref::cast<float>(L.fu), ref::cast<float>(L.fd),
                                        ref::cast<float>(b), L.p);
        double worst = 0.0;
        for (index_t i = 0; i < gf.y.numel(); ++i) worst = std::max(worst, std::abs(double(gf.y[i]) - expected.y[i]));
        CHECK(worst <= 2e-5 * (1.0 + ref::max_abs(expected.y)));

        // The mask holds the codes of the part of the buffer the down-FIR reads.
        const auto g = ops::filtered_lrelu_geometry_of(L.x, L.fu.shape(), L.fd.shape(), L.p);
        const index_t zh = expected.z.size(2), zw = expected.z.size(3);
        REQUIRE(g.act_h <= zh);
        REQUIRE(g.act_w <= zw);
        index_t wrong = 0, clamped = 0, negative = 0;
        for (index_t plane = 0; plane < L.x[0] * L.x[1]; ++plane)
            for (index_t r = 0; r < g.act_h; ++r)
                for (index_t c = 0; c < g.act_w; ++c) {
                    const unsigned code = (got.mask[g.mask_byte(plane, r, c)] >> (2 * (c % 4))) & 3u;
                    const unsigned want = expected.codes[static_cast<std::size_t>((plane * zh + r) * zw + c)];
                    wrong += code != want;
                    clamped += (want & 2u) != 0;
                    negative += (want & 1u) != 0;
                }
        CHECK(wrong == 0);
        CHECK(negative > 0);
        if (std::isfinite(L.p.clamp)) CHECK(clamped > 0);
    }
}

TEST_CASE("filtered_lrelu ToRGB with clamp 256 is clamp(x + b)") {
    const tensor<float> x = ref::cast<float>(ref::normal(shape{2, 3, 9, 10}, 30, 200.0));
    const tensor<float> b = ref::cast<float>(ref::normal(shape{3}, 31));
    const auto p = params(1, 1, 0, 0, 256.0, 1.0, 1.0);
    const op_result<float> r = run(x, tensor<float>(), tensor<float>(), b, p);
    index_t wrong = 0, clamped = 0;
    for (index_t i = 0; i < x.numel(); ++i) {
        const float v = x[i] + b[(i / 90) % 3];
        const float want = std::min(256.0f, std::max(-256.0f, v));
        wrong += r.y[i] != want;
        clamped += std::abs(v) > 256.0f;
    }
    CHECK(wrong == 0);
    CHECK(clamped > 0);
}

TEST_CASE("filtered_lrelu without a mask gives the same output") {
    const auto all = layers(false);
    const layer& L = all[1];
    const tensor<float> x = ref::cast<float>(ref::normal(L.x, 40));
    const tensor<float> b = ref::cast<float>(ref::normal(shape{L.x[1]}, 41));
    const tensor<float> fu = ref::cast<float>(L.fu), fd = ref::cast<float>(L.fd);
    const op_result<float> with = run(x, fu, fd, b, L.p);
    tensor<float> y(with.y.shape());
    ops::filtered_lrelu<float>(x, fu, fd, b, y.view(), core::view<std::uint8_t>{}, L.p);
    index_t differ = 0;
    for (index_t i = 0; i < y.numel(); ++i) differ += y[i] != with.y[i];
    CHECK(differ == 0);
}

TEST_CASE("filtered_lrelu backward equals the transposed composition; db sums dx") {
    int k = 0;
    for (const layer& L : layers(false)) {
        CAPTURE(L.name);
        const tensor<double> x = ref::normal(L.x, 50 + k);
        const tensor<double> b = ref::normal(shape{L.x[1]}, 60 + k, 0.3);
        const ref::lrelu_result fwd = ref::filtered_lrelu(x, L.fu, L.fd, b, L.p);
        const tensor<double> dy = ref::normal(fwd.y.shape(), 70 + k);
        ++k;
        // The composition: (down-FIR)^T, the activation's derivative, (up-FIR)^T.
        const tensor<double> fu = ref::identity_if_empty(L.fu), fd = ref::identity_if_empty(L.fd);
        const auto& p = L.p;
        tensor<double> g(fwd.z.shape());
        ops::upfirdn2d_backward<double>(dy, fd, g.view(), grad_mode::assign,
                                        ops::upfirdn2d_params{1, 1, p.down, p.down, 0, 0, 0, 0, 1.0, p.flip_filter});
        for (index_t i = 0; i < g.numel(); ++i) {
            const unsigned code = fwd.codes[static_cast<std::size_t>(i)];
            g[i] *= (code & 2u) ? 0.0 : ((code & 1u) ? p.gain * p.slope : p.gain);
        }
        tensor<double> dx_ref(L.x);
        ops::upfirdn2d_backward<double>(g, fu, dx_ref.view(), grad_mode::assign,
                                        ops::upfirdn2d_params{p.up, p.up, 1, 1, p.pad_x0, p.pad_x1, p.pad_y0, p.pad_y1,
                                                              double(p.up) * p.up, p.flip_filter});
        tensor<double> db_ref(shape{L.x[1]});
        const index_t plane = L.x[2] * L.x[3];
        for (index_t i = 0; i < dx_ref.numel(); ++i) db_ref[(i / plane) % L.x[1]] += dx_ref[i];

        const op_result<double> got = run(x, L.fu, L.fd, b, L.p);
        tensor<double> dx(L.x), db(shape{L.x[1]});
        ops::filtered_lrelu_backward<double>(L.x, L.fu, L.fd, got.mask, dy, dx.view(), db.view(), grad_mode::assign,
                                             grad_mode::assign, L.p);
        CHECK(ref::max_abs_diff(dx, dx_ref) <= 1e-11 * (1.0 + ref::max_abs(dx_ref)));
        CHECK(ref::max_abs_diff(db, db_ref) <= 1e-10 * (1.0 + ref::max_abs(db_ref)));
    }
}

TEST_CASE("filtered_lrelu gradients for x and b agree with finite differences (away from the kinks)") {
    int k = 0;
    for (const layer& L : layers(true)) {
        CAPTURE(L.name);
        // The first draw whose buffer keeps 1e-3 (relative) from every kink: more than the
        // smaller finite-difference steps move it.
        tensor<double> x0, b0;
        bool found = false;
        for (int attempt = 0; attempt < 100 && !found; ++attempt) {
            x0 = ref::normal(L.x, 1000 * k + attempt);
            b0 = ref::normal(shape{L.x[1]}, 1000 * k + 500 + attempt, 0.3);
            found = kink_margin(x0, L.fu, ref::filtered_lrelu(x0, L.fu, L.fd, b0, L.p), L.p) > 1e-3;
        }
        ++k;
        REQUIRE(found);
        tst::gradient_problem prob;
        prob.add_data("x", x0.clone()).add_parameter("b", b0.clone());
        const auto& fu = L.fu;
        const auto& fd = L.fd;
        const auto p = L.p;
        prob.forward = [&fu, &fd, p](tst::input_views in) {
            tensor<double> y(ops::filtered_lrelu_output_shape(in[0].shape(), fu.shape(), fd.shape(), p));
            ops::filtered_lrelu<double>(in[0], fu, fd, in[1], y.view(), core::view<std::uint8_t>{}, p);
            return y;
        };
        prob.backward = [&fu, &fd, p](tst::input_views in, core::const_view<double> dy, tst::grad_views d,
                                      grad_mode data_mode, grad_mode param_mode) {
            tensor<double> y(ops::filtered_lrelu_output_shape(in[0].shape(), fu.shape(), fd.shape(), p));
            tensor<std::uint8_t> mask(ops::filtered_lrelu_mask_shape(in[0].shape(), fu.shape(), fd.shape(), p));
            ops::filtered_lrelu<double>(in[0], fu, fd, in[1], y.view(), mask.view(), p);
            ops::filtered_lrelu_backward<double>(in[0].shape(), fu, fd, mask, dy, d[0], d[1], data_mode, param_mode, p);
        };
        const auto r = tst::check_gradients(prob);
        CHECK_MESSAGE(r.ok, r.to_string());
    }
}

TEST_CASE("filtered_lrelu splits few planes into bands without changing the result") {
    // One plane of 70 rows is split into bands processed by different tasks; the rows the bands
    // share are recomputed and the mask must still be complete.
    const auto all = layers(false);
    const layer& L = all[0];
    const tensor<double> x = ref::normal(shape{1, 1, 70, 40}, 100);
    const tensor<double> b = ref::normal(shape{1}, 101);
    const ref::lrelu_result expected = ref::filtered_lrelu(x, L.fu, L.fd, b, L.p);
    const int before = core::num_threads();
    for (int threads : {1, 2}) {
        core::set_num_threads(threads);
        const op_result<double> got = run(x, L.fu, L.fd, b, L.p);
        CHECK(ref::max_abs_diff(got.y, expected.y) <= 1e-12 * (1.0 + ref::max_abs(expected.y)));
        const tensor<double> dy = ref::normal(got.y.shape(), 102);
        tensor<double> dx(x.shape()), db(shape{1});
        ops::filtered_lrelu_backward<double>(x.shape(), L.fu, L.fd, got.mask, dy, dx.view(), db.view(),
                                             grad_mode::assign, grad_mode::assign, L.p);
        double sum = 0.0;
        for (double v : dx) sum += v;
        CHECK(std::abs(db[0] - sum) <= 1e-9 * (1.0 + std::abs(sum)));
        const auto g = ops::filtered_lrelu_geometry_of(x.shape(), L.fu.shape(), L.fd.shape(), L.p);
        index_t wrong = 0;
        for (index_t r = 0; r < g.act_h; ++r)
            for (index_t c = 0; c < g.act_w; ++c) {
                const unsigned code = (got.mask[g.mask_byte(0, r, c)] >> (2 * (c % 4))) & 3u;
                wrong += code != expected.codes[static_cast<std::size_t>(r * expected.z.size(3) + c)];
            }
        CHECK(wrong == 0);
    }
    core::set_num_threads(before);
}

TEST_CASE("filtered_lrelu on an empty batch: nothing to write, db assigned 0") {
    const auto all = layers(false);
    const layer& L = all[0];
    const shape xs{0, 2, 38, 38};
    tensor<float> y(ops::filtered_lrelu_output_shape(xs, L.fu.shape(), L.fd.shape(), L.p));
    tensor<std::uint8_t> mask(ops::filtered_lrelu_mask_shape(xs, L.fu.shape(), L.fd.shape(), L.p));
    const tensor<float> x(xs), b(shape{2}), fu = ref::cast<float>(L.fu), fd = ref::cast<float>(L.fd);
    CHECK_NOTHROW(ops::filtered_lrelu<float>(x, fu, fd, b, y.view(), mask.view(), L.p));
    tensor<float> dx(xs), db(shape{2}, 5.0f);
    ops::filtered_lrelu_backward<float>(xs, fu, fd, mask, y, dx.view(), db.view(), grad_mode::assign, grad_mode::assign, L.p);
    CHECK(db[0] == 0.0f);
    CHECK(db[1] == 0.0f);
}

TEST_CASE("filtered_lrelu geometry matches the schedule tables") {
    const auto fu12 = shape{12}, fu24 = shape{24};
    // T-256 / lite: S_conv -> S_up -> S_out (reference sections 8a and 8b).
    auto check = [&](index_t in, const shape& fu, int up, index_t p0, index_t p1, index_t act, index_t out) {
        const auto g = ops::filtered_lrelu_geometry_of(shape{1, 1, in, in}, fu, shape{12}, params(up, 2, p0, p1, inf));
        CHECK(g.out_h == out);
        CHECK(g.out_w == out);
        CHECK(g.act_h == act);
    };
    check(38, fu12, 2, 9, 8, 82, 36);
    check(38, fu24, 4, -6, -9, 114, 52);
    check(54, fu24, 4, -6, -9, 178, 84);
    check(86, fu12, 2, 9, 8, 178, 84);
    check(86, fu12, 2, -11, -12, 138, 64);
    check(150, fu12, 2, -11, -12, 266, 128);
    // A buffer whose last row the down-FIR never reads: (83 - 12 + 2) // 2 = 36 outputs read 82 rows.
    const auto g = ops::filtered_lrelu_geometry_of(shape{1, 1, 38, 38}, fu12, shape{12}, params(2, 2, 9, 9, inf));
    CHECK(g.out_h == 36);
    CHECK(g.act_h == 82);
}

TEST_CASE("filtered_lrelu names the op, the argument and both values on bad arguments") {
    auto message_of = [](auto&& call) -> std::string {
        try {
            call();
        } catch (const imbdef::error& e) {
            return e.what();
        }
        return "no imbdef::error";
    };
    const tensor<float> x(shape{1, 2, 8, 8});
    const tensor<float> f(shape{4});
    const tensor<float> b(shape{2});
    const auto p = params(2, 2, 3, 2, 256.0);
    const shape ys = ops::filtered_lrelu_output_shape(x.shape(), f.shape(), f.shape(), p);
    const shape ms = ops::filtered_lrelu_mask_shape(x.shape(), f.shape(), f.shape(), p);
    CHECK(ys == shape{1, 2, 8, 8});
    CHECK(ms == shape{1, 18, 5, 16});
    tensor<float> y(ys), wrong(shape{1, 2, 8, 7});
    tensor<std::uint8_t> mask(ms), bad_mask(shape{1, 18, 4, 16});
    CHECK(message_of([&] { ops::filtered_lrelu<float>(x, f, f, b, wrong.view(), mask.view(), p); }) ==
          "ops::filtered_lrelu: expected y of shape [1, 2, 8, 8], found y of shape [1, 2, 8, 7]");
    CHECK(message_of([&] { ops::filtered_lrelu<float>(x, f, f, b, y.view(), bad_mask.view(), p); }) ==
          "ops::filtered_lrelu: expected mask empty or of shape [1, 18, 5, 16], found mask of shape [1, 18, 4, 16]");
    const tensor<float> b3(shape{3});
    CHECK(message_of([&] { ops::filtered_lrelu<float>(x, f, f, b3, y.view(), mask.view(), p); }) ==
          "ops::filtered_lrelu: expected b of shape [2] (the shape of the channels of x), found b of shape [3]");
    auto bad = p;
    bad.clamp = -1.0;
    CHECK(message_of([&] { ops::filtered_lrelu<float>(x, f, f, b, y.view(), mask.view(), bad); }) ==
          "ops::filtered_lrelu: expected clamp >= 0 (infinity for none), found clamp -1.000000");
    const tensor<float> f3(shape{2, 2, 2});
    CHECK(message_of([&] { ops::filtered_lrelu<float>(x, f3, f, b, y.view(), mask.view(), p); }) ==
          "ops::filtered_lrelu: expected fu empty (no filter), of rank 1 [F] or of rank 2 [Fy, Fx], found fu of shape [2, 2, 2]");
    tensor<float> dx(x.shape()), db(shape{2});
    CHECK(message_of([&] {
              ops::filtered_lrelu_backward<float>(x.shape(), f, f, bad_mask, y, dx.view(), db.view(), grad_mode::assign,
                                                  grad_mode::assign, p);
          }) == "ops::filtered_lrelu_backward: expected mask of shape [1, 18, 5, 16] (saved by the forward pass), "
                "found mask of shape [1, 18, 4, 16]");
    CHECK(message_of([&] {
              ops::filtered_lrelu_backward<float>(x.shape(), f, f, mask, y, dx.view(), wrong.view(), grad_mode::assign,
                                                  grad_mode::assign, p);
          }) == "ops::filtered_lrelu_backward: expected db of shape [2] (the shape of the channels of x), "
                "found db of shape [1, 2, 8, 7]");
    CHECK_NOTHROW(ops::filtered_lrelu_backward<float>(x.shape(), f, f, mask, y, core::view<float>{}, db.view(),
                                                      grad_mode::none, grad_mode::assign, p));
    CHECK_THROWS_AS(ops::filtered_lrelu_output_shape(shape{1, 1, 2, 2}, shape{12}, shape{12}, params(1, 2, 0, 0, inf)),
                    imbdef::error);
}
