// Augmentation policies: the exact transpose (finite differences in double), the tangent rule,
// image and mask moved alike, known answers (p = 0, flips, integer shifts, colour), the resampling
// path against exact blits, determinism (seed/offset, thread count), the tuner's arithmetic and
// its checkpoint state, bad inputs, and a steady state without allocations.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <imbdef/core/parallel.hpp>
#include <imbdef/core/random.hpp>
#include <imbdef/policies/augmentation.hpp>
#include <imbdef/testing.hpp>

#include "../support/heap_counter.hpp"

using namespace imbdef;
using namespace imbdef::policies;
using core::const_view;
using core::grad_mode;
using core::index_t;
using core::shape;
using core::tensor;
using geometry = policies::detail::ada_sample::geometry;

namespace {

constexpr core::philox_stream rng{0xADA, 3};

template <class T>
tensor<T> normal_tensor(const shape& s, std::uint64_t stream) {
    tensor<T> t(s, core::uninitialized);
    core::fill_normal(t.view(), core::philox_stream{0x5eed, stream}, 0, T(0), T(1));
    return t;
}

// Options with every transform off; tests switch on the ones they study.
ada_options none_on() {
    ada_options o;
    o.xflip = o.rotate90 = o.xint = o.scale = o.rotate = o.aniso = o.xfrac = 0;
    o.brightness = o.contrast = o.lumaflip = o.hue = o.saturation = 0;
    return o;
}

ada make_ada(double p, ada_options o = {}) {
    ada a;
    a.options = o;
    a.p = p;
    return a;
}

template <class T>
tensor<T> augment(const ada& a, const tensor<T>& x, index_t cc, ada::context<T>& ctx, std::uint64_t offset = 0,
                  core::philox_stream stream = rng) {
    tensor<T> y(x.shape(), core::uninitialized);
    a.forward<T>(x, cc, y.view(), ctx, stream, offset);
    return y;
}

template <class T>
bool same_bits(const tensor<T>& a, const tensor<T>& b) {
    return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.bytes()) == 0;
}

template <class T>
double max_abs_diff(const T* a, const T* b, index_t n) {
    double m = 0;
    for (index_t i = 0; i < n; ++i) m = std::max(m, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
    return m;
}

// The sample s of x moved by (tx, ty) pixels with reflected indices: y(i, j) = x(i - ty, j - tx).
tensor<double> shifted(const tensor<double>& x, index_t s, index_t tx, index_t ty, bool flip_x = false) {
    const index_t c = x.size(1), h = x.size(2), w = x.size(3);
    tensor<double> y(shape{c, h, w});
    for (index_t ch = 0; ch < c; ++ch)
        for (index_t i = 0; i < h; ++i)
            for (index_t j = 0; j < w; ++j) {
                const index_t jj = flip_x ? w - 1 - j : j;
                y(ch, i, j) = x(s, ch, policies::detail::reflect_index(i - ty, h), policies::detail::reflect_index(jj - tx, w));
            }
    return y;
}

// A smooth image (a few cycles across it), where a sub-pixel shift changes little.
tensor<double> smooth_tensor(const shape& s) {
    tensor<double> t(s);
    for (index_t n = 0; n < s[0]; ++n)
        for (index_t c = 0; c < s[1]; ++c)
            for (index_t i = 0; i < s[2]; ++i)
                for (index_t j = 0; j < s[3]; ++j)
                    t(n, c, i, j) = std::sin(0.3 * static_cast<double>(i) + 0.5 * static_cast<double>(n + c)) *
                                    std::cos(0.25 * static_cast<double>(j) - 0.2 * static_cast<double>(c));
    return t;
}

const double* sample_of(const tensor<double>& y, index_t s) { return y.data() + s * y.size(1) * y.size(2) * y.size(3); }

struct kinds {
    int identity = 0, blit = 0, resample = 0, color = 0;
};
template <class T>
kinds kinds_of(const ada::context<T>& ctx) {
    kinds k;
    for (const auto& s : ctx.samples) {
        k.identity += s.kind == geometry::identity;
        k.blit += s.kind == geometry::blit;
        k.resample += s.kind == geometry::resample;
        k.color += s.color;
    }
    return k;
}

struct thread_count_guard {
    int saved = core::num_threads();
    ~thread_count_guard() { core::set_num_threads(saved); }
};

// The gradient problem of ada with p and options on x of `s`, colour channels cc.
testing::second_order_problem problem(const ada& a, const shape& s, index_t cc, std::uint64_t stream) {
    testing::second_order_problem pr;
    pr.add_data("x", normal_tensor<double>(s, stream));
    pr.forward = [=](testing::input_views in) {
        ada::context<double> ctx;
        tensor<double> y(in[0].shape());
        a.forward<double>(in[0], cc, y.view(), ctx, rng, 17);
        return y;
    };
    pr.backward = [=](testing::input_views in, const_view<double> dy, testing::grad_views dx, grad_mode dm, grad_mode) {
        ada::context<double> ctx;
        tensor<double> y(in[0].shape());
        a.forward<double>(in[0], cc, y.view(), ctx, rng, 17);
        a.backward<double>(ctx, dy, dx[0], dm);
    };
    pr.forward_tangent = [=](testing::input_views in, testing::input_views dot) {
        ada::context<double> ctx;
        tensor<double> y(in[0].shape()), y_dot(in[0].shape());
        a.forward<double>(in[0], cc, y.view(), ctx, rng, 17);
        a.forward_tangent<double>(ctx, dot[0], y_dot.view());
        return y_dot;
    };
    pr.backward_tangent = [=](testing::input_views in, testing::input_views, const_view<double> dy,
                              const_view<double> dy_dot, testing::grad_views dx, testing::grad_views dx_dot) {
        ada::context<double> ctx;
        tensor<double> y(in[0].shape());
        a.forward<double>(in[0], cc, y.view(), ctx, rng, 17);
        a.backward<double>(ctx, dy, dx[0], grad_mode::assign);
        a.backward<double>(ctx, dy_dot, dx_dot[0], grad_mode::assign);
    };
    return pr;
}

}  // namespace

TEST_CASE("ada: backward is the exact transpose (finite differences in double) for p 0, 0.5, 1") {
    struct channels {
        index_t cc, c;
    };
    const channels setups[] = {{1, 2}, {3, 4}, {3, 3}};
    const shape sizes[] = {shape{1, 0, 7, 9}, shape{3, 0, 9, 6}};
    testing::gradient_check_options opt;
    opt.max_elements_per_input = 48;
    std::uint64_t stream = 1;
    for (double p : {0.0, 0.5, 1.0})
        for (const channels& ch : setups)
            for (shape s : sizes) {
                s[1] = ch.c;
                CAPTURE(p);
                CAPTURE(s.to_string());
                CAPTURE(ch.cc);
                const auto r = testing::check_gradients(problem(make_ada(p), s, ch.cc, stream++), opt);
                CHECK_MESSAGE(r.ok, r.to_string());
            }
}

TEST_CASE("ada: a batch mixing identity, blit and resampled samples, and the tangent rule") {
    // p = 0.3 over 8 samples: some untouched, some only flipped/turned/shifted, some resampled.
    const ada a = make_ada(0.3);
    const shape s{8, 4, 7, 7};
    ada::context<double> ctx;
    augment(a, normal_tensor<double>(s, 40), 3, ctx);
    const kinds k = kinds_of(ctx);
    CHECK(k.identity > 0);
    CHECK(k.blit > 0);
    CHECK(k.resample > 0);
    CHECK(k.color > 0);
    testing::gradient_check_options opt;
    opt.max_elements_per_input = 64;
    const auto pr = problem(a, s, 3, 40);
    const auto r = testing::check_gradients(pr, opt);
    CHECK_MESSAGE(r.ok, r.to_string());
    const auto r2 = testing::check_second_order(pr);
    CHECK_MESSAGE(r2.ok, r2.to_string());

    // Blits alone (exact copies with reflection) and every transform resampled (exact_blits off).
    ada_options blits = none_on();
    blits.xflip = blits.rotate90 = blits.xint = 1;
    ada_options resampled;
    resampled.exact_blits = false;
    for (const ada& b : {make_ada(1.0, blits), make_ada(1.0, resampled)}) {
        const auto rb = testing::check_gradients(problem(b, shape{4, 2, 8, 5}, 1, 41), opt);
        CHECK_MESSAGE(rb.ok, rb.to_string());
    }
    // Degenerate sizes: one row, one pixel.
    for (const shape& tiny : {shape{3, 2, 1, 5}, shape{2, 4, 1, 1}, shape{2, 3, 4, 1}}) {
        CAPTURE(tiny.to_string());
        const auto rt = testing::check_gradients(problem(make_ada(1.0, resampled), tiny, tiny[1] == 2 ? 1 : 3, 42), opt);
        CHECK_MESSAGE(rt.ok, rt.to_string());
    }
}

TEST_CASE("ada: image and mask channels get the same geometric transform") {
    ada_options geometric;
    geometric.brightness = geometric.contrast = geometric.lumaflip = geometric.hue = geometric.saturation = 0;
    for (index_t cc : {1, 3}) {
        const index_t c = cc + 1;
        tensor<float> x = normal_tensor<float>(shape{6, c, 13, 10}, 50 + static_cast<std::uint64_t>(cc));
        const index_t hw = 13 * 10;
        for (index_t s = 0; s < 6; ++s) std::memcpy(&x[(s * c + cc) * hw], &x[s * c * hw], sizeof(float) * hw);
        for (double p : {0.5, 1.0}) {
            ada::context<float> ctx;
            const tensor<float> y = augment(make_ada(p, geometric), x, cc, ctx);
            CHECK(kinds_of(ctx).resample > 0);
            for (index_t s = 0; s < 6; ++s)
                CHECK(std::memcmp(&y[(s * c + cc) * hw], &y[s * c * hw], sizeof(float) * hw) == 0);
        }
    }
}

TEST_CASE("ada: p = 0 is an exact copy, forward and backward, and consumes a fixed count of words") {
    const tensor<float> x = normal_tensor<float>(shape{5, 4, 9, 7}, 60);
    ada::context<float> ctx;
    tensor<float> y(x.shape());
    const ada a = make_ada(0.0);
    CHECK(a.forward<float>(x, 3, y.view(), ctx, rng, 6) == 8 + 5 * ada::words_per_sample);
    CHECK(same_bits(x, y));
    CHECK(ctx.identity);
    tensor<float> dx(x.shape(), 7.0f);
    a.backward<float>(ctx, x, dx.view(), grad_mode::assign);
    CHECK(same_bits(dx, x));
    a.backward<float>(ctx, x, dx.view(), grad_mode::accumulate);
    for (index_t i = 0; i < x.numel(); ++i) REQUIRE(dx[i] == 2 * x[i]);
    // The offset advance does not depend on p.
    CHECK(make_ada(0.7).forward<float>(x, 3, y.view(), ctx, rng, 6) == 8 + 5 * ada::words_per_sample);
    CHECK(ada::next_offset(0, 3) == 96);
    CHECK(ada::next_offset(5, 1) == 40);
    // no_augmentation: a copy, in place allowed, no words taken.
    no_augmentation none;
    no_augmentation::context<float> nctx;
    tensor<float> z = x.clone();
    CHECK(none.forward<float>(z, 3, z.view(), nctx, rng, 11) == 11);
    CHECK(same_bits(z, x));
}

TEST_CASE("ada: xflip with probability 1 flips half the samples exactly; resampling agrees") {
    ada_options o = none_on();
    o.xflip = 1;
    const tensor<double> x = normal_tensor<double>(shape{16, 2, 9, 11}, 70);
    ada::context<double> ctx;
    const tensor<double> y = augment(make_ada(1.0, o), x, 1, ctx);
    int flipped = 0, kept = 0;
    for (index_t s = 0; s < 16; ++s) {
        const index_t n = 2 * 9 * 11;
        if (max_abs_diff(sample_of(y, s), shifted(x, s, 0, 0, true).data(), n) == 0) ++flipped;
        if (max_abs_diff(sample_of(y, s), sample_of(x, s), n) == 0) ++kept;
    }
    CHECK(flipped > 0);
    CHECK(kept > 0);
    CHECK(flipped + kept == 16);
    // The reference's resampling (reflect pad, sym6 up, bilinear, sym6 down) flips too, up to the
    // asymmetry of sym6 (a shift of about 0.1 pixel under a mirror), seen on a smooth image.
    const tensor<double> xs = smooth_tensor(x.shape());
    ada::context<double> c1, c2;
    const tensor<double> e = augment(make_ada(1.0, o), xs, 1, c1);
    o.exact_blits = false;
    const tensor<double> r = augment(make_ada(1.0, o), xs, 1, c2);
    CHECK(kinds_of(c2).resample == flipped);
    CHECK(max_abs_diff(e.data(), r.data(), e.numel()) < 0.06);
}

TEST_CASE("ada: integer translation moves the content by whole pixels with reflection") {
    ada_options o = none_on();
    o.xint = 1;
    const index_t h = 17, w = 24;
    const tensor<double> x = normal_tensor<double>(shape{8, 2, h, w}, 80);
    ada::context<double> ctx;
    const tensor<double> y = augment(make_ada(1.0, o), x, 1, ctx);
    int moved = 0;
    for (index_t s = 0; s < 8; ++s) {
        CAPTURE(s);
        bool found = false;
        for (index_t ty = -2; ty <= 2 && !found; ++ty)
            for (index_t tx = -3; tx <= 3 && !found; ++tx)
                if (max_abs_diff(sample_of(y, s), shifted(x, s, tx, ty).data(), 2 * h * w) == 0) {
                    found = true;
                    moved += tx != 0 || ty != 0;
                }
        CHECK(found);
    }
    CHECK(moved > 4);
    o.exact_blits = false;
    ada::context<double> ctx2;
    const tensor<double> y2 = augment(make_ada(1.0, o), x, 1, ctx2);
    CHECK(max_abs_diff(y2.data(), y.data(), y.numel()) < 1e-9);

    // Quarter turns and flips of a square image: exact blits against the resampling path, which
    // agrees up to sym6's asymmetry (smooth image).
    ada_options q = none_on();
    q.xflip = q.rotate90 = q.xint = 1;
    const tensor<double> xs = smooth_tensor(shape{8, 1, 16, 16});
    ada::context<double> c1, c2;
    const tensor<double> e = augment(make_ada(1.0, q), xs, 1, c1);
    q.exact_blits = false;
    const tensor<double> r = augment(make_ada(1.0, q), xs, 1, c2);
    CHECK(kinds_of(c1).blit > 4);
    CHECK(kinds_of(c2).resample == kinds_of(c1).blit);
    CHECK(max_abs_diff(e.data(), r.data(), e.numel()) < 0.06);
}

TEST_CASE("ada: colour transforms on the image channels only") {
    const tensor<float> x = normal_tensor<float>(shape{6, 4, 5, 7}, 90);
    const index_t hw = 35;
    {  // brightness: the same offset on R, G and B, the mask untouched
        ada_options o = none_on();
        o.brightness = 1;
        ada::context<float> ctx;
        const tensor<float> y = augment(make_ada(1.0, o), x, 3, ctx);
        for (index_t s = 0; s < 6; ++s) {
            const double b = ctx.samples[static_cast<std::size_t>(s)].b[0];
            CHECK(b != 0);
            for (index_t ch = 0; ch < 3; ++ch)
                for (index_t k = 0; k < hw; ++k)
                    REQUIRE(y[(s * 4 + ch) * hw + k] == doctest::Approx(x[(s * 4 + ch) * hw + k] + b).epsilon(1e-5));
            CHECK(std::memcmp(&y[(s * 4 + 3) * hw], &x[(s * 4 + 3) * hw], sizeof(float) * hw) == 0);
        }
    }
    {  // grey: brightness and contrast give y = c (x + b); lumaflip negates
        ada_options o = none_on();
        o.brightness = o.contrast = 1;
        ada::context<float> ctx;
        const tensor<float> y = augment(make_ada(1.0, o), x, 1, ctx);
        for (index_t s = 0; s < 6; ++s) {
            const auto& smp = ctx.samples[static_cast<std::size_t>(s)];
            CHECK(smp.b[0] == doctest::Approx(smp.m[0] * (smp.b[0] / smp.m[0])));
            for (index_t k = 0; k < hw; ++k)
                REQUIRE(y[s * 4 * hw + k] == doctest::Approx(smp.m[0] * x[s * 4 * hw + k] + smp.b[0]).epsilon(1e-5));
        }
        ada_options f = none_on();
        f.lumaflip = 1;
        ada::context<float> fctx;
        const tensor<float> yf = augment(make_ada(1.0, f), x, 1, fctx);
        int negated = 0;
        for (index_t s = 0; s < 6; ++s) {
            bool neg = true, same = true;
            for (index_t k = 0; k < hw; ++k) {
                neg = neg && yf[s * 4 * hw + k] == -x[s * 4 * hw + k];
                same = same && yf[s * 4 * hw + k] == x[s * 4 * hw + k];
            }
            CHECK((neg || same));
            negated += neg;
        }
        CHECK(negated > 0);
    }
    {  // hue and saturation keep the luma (channel mean) of RGB and do nothing to grey
        ada_options o = none_on();
        o.hue = o.saturation = 1;
        ada::context<float> ctx;
        const tensor<float> y = augment(make_ada(1.0, o), x, 3, ctx);
        CHECK(kinds_of(ctx).color == 6);
        double changed = 0;
        for (index_t s = 0; s < 6; ++s)
            for (index_t k = 0; k < hw; ++k) {
                const float* xs = &x[s * 4 * hw + k];
                const float* ys = &y[s * 4 * hw + k];
                REQUIRE(ys[0] + ys[hw] + ys[2 * hw] == doctest::Approx(xs[0] + xs[hw] + xs[2 * hw]).epsilon(1e-4).scale(1));
                changed = std::max(changed, static_cast<double>(std::abs(ys[0] - xs[0])));
            }
        CHECK(changed > 0.1);
        ada::context<float> gctx;
        CHECK(same_bits(augment(make_ada(1.0, o), x, 1, gctx), x));
    }
}

TEST_CASE("ada: deterministic in (seed, offset) and independent of the thread count") {
    thread_count_guard guard;
    const tensor<float> x = normal_tensor<float>(shape{8, 4, 32, 32}, 100);
    const tensor<float> dy = normal_tensor<float>(x.shape(), 101);
    const ada a = make_ada(0.5);
    auto run = [&](std::uint64_t offset, tensor<float>& dx) {
        ada::context<float> ctx;
        tensor<float> y = augment(a, x, 3, ctx, offset);
        dx = tensor<float>(x.shape());
        a.backward<float>(ctx, dy, dx.view(), grad_mode::assign);
        return y;
    };
    core::set_num_threads(1);
    tensor<float> dx1, dx1b, dx2, dx3;
    const tensor<float> y1 = run(256, dx1);
    const tensor<float> y1b = run(256, dx1b);
    CHECK(same_bits(y1, y1b));
    CHECK(same_bits(dx1, dx1b));
    const tensor<float> y3 = run(256 + 8 * ada::words_per_sample, dx3);
    CHECK_FALSE(same_bits(y1, y3));
    core::set_num_threads(2);
    const tensor<float> y2 = run(256, dx2);
    CHECK(same_bits(y1, y2));
    CHECK(same_bits(dx1, dx2));
    // Another stream (seed) gives other transforms.
    ada::context<float> ctx;
    CHECK_FALSE(same_bits(augment(a, x, 3, ctx, 256, core::philox_stream{0xADA, 4}), y1));
}

TEST_CASE("ada: each transform fires with probability multiplier * p") {
    const index_t n = 4000;
    const tensor<float> x(shape{n, 1, 4, 4});
    auto fraction = [&](ada_options o, double p, bool color) {
        ada::context<float> ctx;
        augment(make_ada(p, o), x, 1, ctx);
        const kinds k = kinds_of(ctx);
        return static_cast<double>(color ? k.color : n - k.identity) / static_cast<double>(n);
    };
    ada_options scale = none_on();
    scale.scale = 1;
    CHECK(fraction(scale, 0.5, false) == doctest::Approx(0.5).epsilon(0.08));
    scale.scale = 0.5;
    CHECK(fraction(scale, 0.4, false) == doctest::Approx(0.2).epsilon(0.12));
    ada_options rotate = none_on();
    rotate.rotate = 1;  // two rotations of probability 1 - sqrt(1 - p) each: one or both with probability p
    CHECK(fraction(rotate, 0.3, false) == doctest::Approx(0.3).epsilon(0.1));
    ada_options bright = none_on();
    bright.brightness = 1;
    CHECK(fraction(bright, 0.25, true) == doctest::Approx(0.25).epsilon(0.1));
}

TEST_CASE("ada_tuner: p moves by batch * interval / (speed_kimg * 1000) every interval steps") {
    ada a;
    ada_tuner t;
    const double step = 8.0 * 4 / 500000;
    CHECK(ada_tuner::step_size(a.options, 8) == step);
    const tensor<float> high(shape{4}, {1.0f, 2.0f, 0.5f, 3.0f});        // mean sign 1
    const tensor<float> low(shape{4}, {1.0f, -2.0f, 0.5f, -3.0f});       // mean sign 0
    const tensor<float> target(shape{5}, {1.0f, 1.0f, 1.0f, 1.0f, -1.0f});  // 3/5 = 0.6
    t.accumulate<float>(low);
    CHECK(t.end_step(a, 8));  // step 0 closes an interval; p stays at 0
    CHECK(a.p == 0.0);
    for (int i = 1; i < 4; ++i) {
        t.accumulate<float>(high);
        CHECK_FALSE(t.end_step(a, 8));
    }
    t.accumulate<float>(high);
    CHECK(t.end_step(a, 8));  // step 4: mean sign 1 > 0.6
    CHECK(a.p == step);
    for (int i = 5; i < 8; ++i) {
        t.accumulate<float>(high);
        t.end_step(a, 8);
    }
    t.accumulate<float>(high);
    CHECK(t.end_step(a, 8));  // step 8
    CHECK(a.p == step + step);
    // Exactly on target: no move. Checkpointed mid-interval, the restored pair continues alike.
    for (int i = 9; i < 12; ++i) {
        t.accumulate<float>(target);
        t.end_step(a, 8);
    }
    const ada_state saved = t.state(a);
    CHECK(saved.steps == 12);
    CHECK(saved.sign_sum == 9);
    CHECK(saved.sign_count == 15);
    ada b;
    ada_tuner u;
    u.restore(saved, b);
    CHECK(b.p == a.p);
    for (ada_tuner* tt : {&t, &u}) {
        tt->accumulate<float>(target);
        CHECK(tt->end_step(tt == &t ? a : b, 8));
    }
    CHECK(a.p == step + step);
    CHECK(b.p == a.p);
    // Below target for long enough: p falls back to 0 and stays there; nothing accumulated: no move.
    for (int i = 0; i < 40; ++i) {
        t.accumulate<float>(low);
        t.end_step(a, 8);
    }
    CHECK(a.p == 0.0);
    ada_tuner empty;
    ada c;
    c.p = 0.25;
    CHECK_FALSE(empty.end_step(c, 8));
    CHECK(c.p == 0.25);
    // Bad state and arguments.
    CHECK_THROWS_WITH_AS(u.restore({-0.1, 0, 0, 0}, b), doctest::Contains("p >= 0"), imbdef::error);
    CHECK_THROWS_WITH_AS(u.restore({0.1, 5, 2, 0}, b), doctest::Contains("sign_sum"), imbdef::error);
    CHECK_THROWS_WITH_AS(u.end_step(b, 0), doctest::Contains("batch"), imbdef::error);
}

TEST_CASE("augmentation: bad inputs name the argument") {
    const ada a = make_ada(0.5);
    ada::context<float> ctx;
    const tensor<float> x(shape{2, 4, 6, 6});
    tensor<float> y(x.shape());
    const tensor<float> rank3(shape{4, 6, 6});
    CHECK_THROWS_WITH_AS(a.forward<float>(rank3, 3, y.view(), ctx, rng, 0), doctest::Contains("x of rank 4"), imbdef::error);
    const tensor<float> two(shape{2, 2, 6, 6});
    tensor<float> y2(two.shape());
    CHECK_THROWS_WITH_AS(a.forward<float>(two, 3, y2.view(), ctx, rng, 0), doctest::Contains("color_channels 3"),
                         imbdef::error);
    CHECK_THROWS_WITH_AS(a.forward<float>(x, 2, y.view(), ctx, rng, 0), doctest::Contains("color_channels"), imbdef::error);
    tensor<float> wrong(shape{2, 4, 6, 5});
    CHECK_THROWS_WITH_AS(a.forward<float>(x, 3, wrong.view(), ctx, rng, 0), doctest::Contains("y of shape"), imbdef::error);
    CHECK_THROWS_WITH_AS(make_ada(-0.1).forward<float>(x, 3, y.view(), ctx, rng, 0), doctest::Contains("p -0.1"),
                         imbdef::error);
    CHECK_THROWS_WITH_AS(a.backward<float>(ctx, x, y.view(), grad_mode::assign), doctest::Contains("context"), imbdef::error);
    a.forward<float>(x, 3, y.view(), ctx, rng, 0);
    CHECK_THROWS_WITH_AS(a.backward<float>(ctx, wrong, y.view(), grad_mode::assign), doctest::Contains("dy of shape"),
                         imbdef::error);
    CHECK_THROWS_WITH_AS(a.backward<float>(ctx, x, wrong.view(), grad_mode::accumulate), doctest::Contains("dx of shape"),
                         imbdef::error);
    tensor<float> same = x.clone();
    CHECK_THROWS_WITH_AS(a.forward<float>(same, 3, same.view(), ctx, rng, 0), doctest::Contains("overlapping"), imbdef::error);
    no_augmentation none;
    no_augmentation::context<float> nctx;
    CHECK_THROWS_WITH_AS(none.forward<float>(x, 0, y.view(), nctx, rng, 0), doctest::Contains("color_channels"),
                         imbdef::error);
}

TEST_CASE("ada: a steady training step allocates nothing") {
    thread_count_guard guard;
    core::set_num_threads(1);
    const tensor<float> x = normal_tensor<float>(shape{8, 4, 32, 32}, 110);
    tensor<float> y(x.shape()), dx(x.shape());
    const ada a = make_ada(0.6);
    ada::context<float> ctx;
    std::uint64_t offset = 0;
    auto step = [&] {
        offset = a.forward<float>(x, 3, y.view(), ctx, rng, offset);
        a.backward<float>(ctx, y, dx.view(), grad_mode::assign);
        a.forward_tangent<float>(ctx, x, y.view());
    };
    for (int i = 0; i < 4; ++i) step();
    const std::size_t before = imbdef_test::heap_allocations();
    for (int i = 0; i < 12; ++i) step();
    CHECK(imbdef_test::heap_allocations() == before);
}
