// testing::check_gradients must pass correct backward passes and fail every kind of wrong one:
// a checker that cannot fail proves nothing.

#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <sstream>
#include <string>

#include <imbdef/testing.hpp>

namespace {

namespace tst = imbdef::testing;
using imbdef::core::const_view;
using imbdef::core::grad_mode;
using imbdef::core::index_t;
using imbdef::core::shape;
using imbdef::core::store_grad;
using imbdef::core::tensor;
using imbdef::core::uninitialized;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The deliberate mistakes of the affine op below, one at a time.
enum class flaw {
    none,
    factor,                    // the weight gradient is twice what it should be
    unwritten_under_assign,    // the last bias entry is skipped under assign
    accumulate_as_assign,      // the weight gradient is always assigned
    assign_as_accumulate,      // the data gradient is always accumulated
    none_writes,               // the weight gradient is written even under none
    data_mode_for_parameters,  // the parameter gradients follow the data mode
    rejects_empty_buffers,     // checks every buffer's shape, even under none where it may be empty
};

// y[r, c] = x[r, c] * w[r, c] + b[c]: x data, w and b parameters (b broadcast over rows).
tensor<double> affine_forward(tst::input_views in) {
    const auto x = in[0];
    const auto w = in[1];
    const auto b = in[2];
    tensor<double> y(x.shape(), uninitialized);
    const index_t cols = x.size(1);
    for (index_t i = 0; i < x.numel(); ++i) y[i] = x[i] * w[i] + b[i % cols];
    return y;
}

tst::backward_fn affine_backward(flaw f) {
    return [f](tst::input_views in, const_view<double> dy, tst::grad_views dx, grad_mode dm, grad_mode pm) {
        const auto x = in[0];
        const auto w = in[1];
        const index_t rows = x.size(0);
        const index_t cols = x.size(1);
        if (f == flaw::data_mode_for_parameters) pm = dm;
        if (f == flaw::rejects_empty_buffers)
            for (std::size_t k = 0; k < in.size(); ++k)
                imbdef::core::require_same_shape(dx[k].shape(), in[k].shape(), "affine backward: gradient buffer");
        if (dm != grad_mode::none) {
            for (index_t i = 0; i < x.numel(); ++i) {
                const double g = dy[i] * w[i];
                if (f == flaw::assign_as_accumulate)
                    dx[0][i] += g;
                else
                    store_grad(dx[0][i], g, dm);
            }
        }
        if (pm != grad_mode::none || f == flaw::none_writes) {
            for (index_t i = 0; i < x.numel(); ++i) {
                const double g = (f == flaw::factor ? 2.0 : 1.0) * dy[i] * x[i];
                if (f == flaw::accumulate_as_assign || (f == flaw::none_writes && pm == grad_mode::none))
                    dx[1][i] = g;
                else
                    store_grad(dx[1][i], g, pm);
            }
        }
        if (pm != grad_mode::none) {
            const index_t written = f == flaw::unwritten_under_assign && pm == grad_mode::assign ? cols - 1 : cols;
            for (index_t c = 0; c < written; ++c) {
                double s = 0.0;
                for (index_t r = 0; r < rows; ++r) s += dy[r * cols + c];
                store_grad(dx[2][c], s, pm);
            }
        }
    };
}

tst::gradient_problem affine_problem(flaw f = flaw::none) {
    tst::gradient_problem p;
    p.add_data("x", tst::random_tensor({3, 4}, 11))
        .add_parameter("w", tst::random_tensor({3, 4}, 12))
        .add_parameter("b", tst::random_tensor({4}, 13));
    p.forward = affine_forward;
    p.backward = affine_backward(f);
    return p;
}

// Y = X W with X [m, k] data and W [k, n] a parameter. With transpose_dw the weight gradient is
// written with its indices swapped (W is square, so the shapes still agree).
tst::gradient_problem matmul_problem(bool transpose_dw = false) {
    tst::gradient_problem p;
    p.add_data("X", tst::random_tensor({4, 3}, 21)).add_parameter("W", tst::random_tensor({3, 3}, 22));
    p.forward = [](tst::input_views in) {
        const auto X = in[0];
        const auto W = in[1];
        const index_t m = X.size(0), k = X.size(1), n = W.size(1);
        tensor<double> y(shape{m, n});
        for (index_t i = 0; i < m; ++i)
            for (index_t j = 0; j < n; ++j)
                for (index_t t = 0; t < k; ++t) y(i, j) += X(i, t) * W(t, j);
        return y;
    };
    p.backward = [transpose_dw](tst::input_views in, const_view<double> dY, tst::grad_views dx, grad_mode dm,
                                grad_mode pm) {
        const auto X = in[0];
        const auto W = in[1];
        const index_t m = X.size(0), k = X.size(1), n = W.size(1);
        if (dm != grad_mode::none)
            for (index_t i = 0; i < m; ++i)
                for (index_t t = 0; t < k; ++t) {
                    double s = 0.0;
                    for (index_t j = 0; j < n; ++j) s += dY(i, j) * W(t, j);
                    store_grad(dx[0](i, t), s, dm);
                }
        if (pm != grad_mode::none)
            for (index_t t = 0; t < k; ++t)
                for (index_t j = 0; j < n; ++j) {
                    double s = 0.0;
                    for (index_t i = 0; i < m; ++i) s += transpose_dw ? X(i, j) * dY(i, t) : X(i, t) * dY(i, j);
                    store_grad(dx[1](t, j), s, pm);
                }
    };
    return p;
}

// y = tanh(x), elementwise, for any shape.
tst::gradient_problem tanh_problem(const shape& s, double error = 0.0) {
    tst::gradient_problem p;
    p.add_data("x", tst::random_tensor(s, 31, 0, -2.0, 2.0));
    p.forward = [](tst::input_views in) {
        tensor<double> y(in[0].shape(), uninitialized);
        for (index_t i = 0; i < y.numel(); ++i) y[i] = std::tanh(in[0][i]);
        return y;
    };
    // `error` scales the gradient by (1 + error), a mistake as small as the caller likes.
    p.backward = [error](tst::input_views in, const_view<double> dy, tst::grad_views dx, grad_mode dm, grad_mode) {
        if (dm == grad_mode::none) return;
        for (index_t i = 0; i < dy.numel(); ++i) {
            const double t = std::tanh(in[0][i]);
            store_grad(dx[0][i], (1.0 + error) * dy[i] * (1.0 - t * t), dm);
        }
    };
    return p;
}

// y = softplus(a * x): x data, a a scalar parameter of shape [1].
tst::gradient_problem softplus_problem() {
    tst::gradient_problem p;
    p.add_data("x", tst::random_tensor({2, 5}, 41, 0, -3.0, 3.0))
        .add_parameter("a", tensor<double>(shape{1}, {0.7}));
    p.forward = [](tst::input_views in) {
        const double a = in[1][0];
        tensor<double> y(in[0].shape(), uninitialized);
        for (index_t i = 0; i < y.numel(); ++i) y[i] = std::log1p(std::exp(a * in[0][i]));
        return y;
    };
    p.backward = [](tst::input_views in, const_view<double> dy, tst::grad_views dx, grad_mode dm, grad_mode pm) {
        const auto x = in[0];
        const double a = in[1][0];
        double da = 0.0;
        for (index_t i = 0; i < x.numel(); ++i) {
            const double sig = 1.0 / (1.0 + std::exp(-a * x[i]));
            if (dm != grad_mode::none) store_grad(dx[0][i], dy[i] * a * sig, dm);
            da += dy[i] * x[i] * sig;
        }
        if (pm != grad_mode::none) store_grad(dx[1][0], da, pm);
    };
    return p;
}

// Leaky ReLU with slope 0.2, on inputs at least 0.2 away from the kink at 0 (the largest step moves
// an input by at most 1e-2 * max(1, |x|), so no difference straddles the kink).
tst::gradient_problem leaky_relu_problem() {
    tensor<double> x = tst::random_tensor({3, 3, 2}, 51);
    for (double& v : x) v = v >= 0.0 ? 0.2 + 0.8 * v : -0.2 + 0.8 * v;
    tst::gradient_problem p;
    p.add_data("x", std::move(x));
    p.forward = [](tst::input_views in) {
        tensor<double> y(in[0].shape(), uninitialized);
        for (index_t i = 0; i < y.numel(); ++i) y[i] = in[0][i] > 0.0 ? in[0][i] : 0.2 * in[0][i];
        return y;
    };
    p.backward = [](tst::input_views in, const_view<double> dy, tst::grad_views dx, grad_mode dm, grad_mode) {
        if (dm == grad_mode::none) return;
        for (index_t i = 0; i < dy.numel(); ++i) store_grad(dx[0][i], in[0][i] > 0.0 ? dy[i] : 0.2 * dy[i], dm);
    };
    return p;
}

// y = sum(x^2): a rank-0 output.
tst::gradient_problem sum_of_squares_problem() {
    tst::gradient_problem p;
    p.add_data("x", tst::random_tensor({5}, 61));
    p.forward = [](tst::input_views in) {
        tensor<double> y{shape{}};
        for (double v : in[0]) y[0] += v * v;
        return y;
    };
    p.backward = [](tst::input_views in, const_view<double> dy, tst::grad_views dx, grad_mode dm, grad_mode) {
        if (dm == grad_mode::none) return;
        for (index_t i = 0; i < in[0].numel(); ++i) store_grad(dx[0][i], 2.0 * in[0][i] * dy[0], dm);
    };
    return p;
}

void check_passes(const tst::gradient_problem& p, index_t expected_checked) {
    const tst::check_report r = tst::check_gradients(p);
    CHECK_MESSAGE(r.ok, r.to_string());
    CHECK(r.checked == expected_checked);
    CHECK(r.failed == 0);
    CHECK(r.violations == 0);
    CHECK_FALSE(r.violation.has_value());
    REQUIRE(r.worst.has_value());
    CHECK(r.worst->score <= 1.0);
}

}  // namespace

TEST_CASE("check_gradients passes correct gradients") {
    SUBCASE("elementwise affine with a broadcast bias") { check_passes(affine_problem(), 12 + 12 + 4); }
    SUBCASE("matrix product with a parameter") { check_passes(matmul_problem(), 12 + 9); }
    SUBCASE("tanh") { check_passes(tanh_problem({2, 5}), 10); }
    SUBCASE("softplus with a scalar parameter") { check_passes(softplus_problem(), 10 + 1); }
    SUBCASE("leaky relu away from its kink") { check_passes(leaky_relu_problem(), 18); }
    SUBCASE("rank-0 output") { check_passes(sum_of_squares_problem(), 5); }
}

TEST_CASE("check_gradients fails a gradient wrong by a factor") {
    const tst::check_report r = tst::check_gradients(affine_problem(flaw::factor));
    CHECK_FALSE(r.ok);
    CHECK(r.failed == 12);
    CHECK_FALSE(r.violation.has_value());  // consistently wrong in every mode: only the values are off
    REQUIRE(r.worst.has_value());
    CHECK(r.worst->input == "w");
    CHECK(r.worst->quantity == "gradient");
    CHECK(r.worst->score > 1.0);
    CHECK(r.worst->index.size() == 2);
    CHECK(r.worst->numeric.size() == 4);
    CHECK(std::abs(r.worst->analytic - 2.0 * r.worst->numeric[r.worst->best_step]) < 1e-6);
}

TEST_CASE("check_gradients fails a gradient written at transposed indices") {
    const tst::check_report r = tst::check_gradients(matmul_problem(true));
    CHECK_FALSE(r.ok);
    CHECK(r.failed > 0);
    CHECK_FALSE(r.violation.has_value());
    REQUIRE(r.worst.has_value());
    CHECK(r.worst->input == "W");
    // The diagonal of a transpose is right; only off-diagonal entries can fail.
    REQUIRE(r.worst->index.size() == 2);
    CHECK(r.worst->index[0] != r.worst->index[1]);
}

TEST_CASE("check_gradients catches an entry left unwritten under assign") {
    const tst::check_report r = tst::check_gradients(affine_problem(flaw::unwritten_under_assign));
    CHECK_FALSE(r.ok);
    REQUIRE(r.violation.has_value());
    CHECK(r.violation->input == "b");
    CHECK(r.violation->flat_index == 3);
    CHECK(std::isnan(r.violation->found));
    CHECK(contains(r.violation->what, "unwritten"));
}

TEST_CASE("check_gradients catches accumulate implemented as assign") {
    const tst::check_report r = tst::check_gradients(affine_problem(flaw::accumulate_as_assign));
    CHECK_FALSE(r.ok);
    CHECK(r.failed == 0);  // the assigned values themselves are right
    REQUIRE(r.violation.has_value());
    CHECK(r.violation->input == "w");
    CHECK(contains(r.violation->what, "accumulate overwrote"));
    CHECK(contains(r.violation->what, "parameters=accumulate"));
}

TEST_CASE("check_gradients catches assign implemented as accumulate") {
    const tst::check_report r = tst::check_gradients(affine_problem(flaw::assign_as_accumulate));
    CHECK_FALSE(r.ok);
    CHECK(r.failed == 0);
    REQUIRE(r.violation.has_value());
    CHECK(r.violation->input == "x");
    CHECK(contains(r.violation->what, "data=assign"));
    CHECK(r.violations >= 2);  // NaN-filled and value-filled buffers both expose it
}

TEST_CASE("check_gradients catches a buffer written under none") {
    const tst::check_report r = tst::check_gradients(affine_problem(flaw::none_writes));
    CHECK_FALSE(r.ok);
    CHECK(r.failed == 0);
    REQUIRE(r.violation.has_value());
    CHECK(r.violation->input == "w");
    CHECK(contains(r.violation->what, "none must leave the buffer untouched"));
}

TEST_CASE("check_gradients catches parameter gradients that follow the data mode") {
    const tst::check_report r = tst::check_gradients(affine_problem(flaw::data_mode_for_parameters));
    CHECK_FALSE(r.ok);
    REQUIRE(r.violation.has_value());
    CHECK(r.violation->input == "w");
}

TEST_CASE("check_gradients catches a backward that rejects empty buffers under none") {
    const tst::check_report r = tst::check_gradients(affine_problem(flaw::rejects_empty_buffers));
    CHECK_FALSE(r.ok);
    CHECK(r.violations == 5);  // every pair of modes with a none in it
    REQUIRE(r.violation.has_value());
    CHECK(r.violation->input == "w, b");
    CHECK(r.violation->flat_index == -1);
    CHECK(contains(r.violation->what, "data=assign, parameters=none"));
    CHECK(contains(r.violation->what, "affine backward: gradient buffer"));
}

TEST_CASE("check_gradients catches an input declared with the wrong kind") {
    // The op treats w as a parameter; declaring it as data makes the modes disagree.
    tst::gradient_problem p;
    p.add_data("x", tst::random_tensor({3, 4}, 11))
        .add_data("w", tst::random_tensor({3, 4}, 12))
        .add_parameter("b", tst::random_tensor({4}, 13));
    p.forward = affine_forward;
    p.backward = affine_backward(flaw::none);
    const tst::check_report r = tst::check_gradients(p);
    CHECK_FALSE(r.ok);
    REQUIRE(r.violation.has_value());
    CHECK(r.violation->input == "w");
}

TEST_CASE("check_gradients catches a nondeterministic forward") {
    tst::gradient_problem p = tanh_problem({2, 3});
    auto calls = std::make_shared<int>(0);
    p.forward = [calls](tst::input_views in) {
        tensor<double> y(in[0].shape(), uninitialized);
        for (index_t i = 0; i < y.numel(); ++i) y[i] = std::tanh(in[0][i]);
        y[1] += 1e-13 * ++*calls;  // drifts by far less than the tolerance, and is still caught
        return y;
    };
    const tst::check_report r = tst::check_gradients(p);
    CHECK_FALSE(r.ok);
    REQUIRE(r.violation.has_value());
    CHECK(r.violation->input == "output");
    CHECK(r.violation->flat_index == 1);
    CHECK(contains(r.violation->what, "not deterministic"));
}

TEST_CASE("check_gradients tolerances are settable") {
    const tst::gradient_problem p = tanh_problem({2, 5}, 1e-3);
    CHECK_FALSE(tst::check_gradients(p).ok);
    tst::gradient_check_options loose;
    loose.tol = {.atol = 1e-6, .rtol = 1e-2};
    const tst::check_report r = tst::check_gradients(p, loose);
    CHECK_MESSAGE(r.ok, r.to_string());
    CHECK(r.tol.rtol == 1e-2);
}

TEST_CASE("check_gradients checks a random subset of a large input") {
    tst::gradient_check_options o;
    o.max_elements_per_input = 25;
    const tst::check_report good = tst::check_gradients(tanh_problem({40, 50}), o);
    CHECK_MESSAGE(good.ok, good.to_string());
    CHECK(good.checked == 25);

    const tst::check_report bad = tst::check_gradients(tanh_problem({40, 50}, 0.5), o);
    CHECK_FALSE(bad.ok);
    CHECK(bad.checked == 25);
    CHECK(bad.failed == 25);
}

TEST_CASE("check_gradients reports read well") {
    const tst::check_report good = tst::check_gradients(affine_problem());
    const std::string g = good.to_string();
    CHECK(contains(g, "gradient check passed"));
    CHECK(contains(g, "28 elements checked"));
    CHECK(contains(g, "worst element"));

    const tst::check_report bad = tst::check_gradients(affine_problem(flaw::factor));
    std::ostringstream os;
    os << bad;
    CHECK(os.str() == bad.to_string());
    CHECK(contains(os.str(), "FAILED"));
    CHECK(contains(os.str(), "gradient of 'w'"));
    CHECK(contains(os.str(), "12 outside tolerance"));

    const tst::check_report broken = tst::check_gradients(affine_problem(flaw::unwritten_under_assign));
    CHECK(contains(broken.to_string(), "first contract violation: 'b' [3] = (3)"));
}

TEST_CASE("check_gradients rejects a malformed problem") {
    SUBCASE("no inputs") {
        tst::gradient_problem p = affine_problem();
        p.inputs.clear();
        CHECK_THROWS_AS(tst::check_gradients(p), imbdef::error);
    }
    SUBCASE("no backward") {
        tst::gradient_problem p = affine_problem();
        p.backward = nullptr;
        CHECK_THROWS_WITH_AS(tst::check_gradients(p), doctest::Contains("a backward function"), imbdef::error);
    }
    SUBCASE("duplicate names") {
        tst::gradient_problem p = affine_problem();
        p.inputs[2].name = "w";
        CHECK_THROWS_WITH_AS(tst::check_gradients(p), doctest::Contains("'w' twice"), imbdef::error);
    }
    SUBCASE("no steps") {
        tst::gradient_check_options o;
        o.steps.clear();
        CHECK_THROWS_AS(tst::check_gradients(affine_problem(), o), imbdef::error);
    }
    SUBCASE("a negative tolerance") {
        tst::gradient_check_options o;
        o.tol.rtol = -1.0;
        CHECK_THROWS_AS(tst::check_gradients(affine_problem(), o), imbdef::error);
    }
    SUBCASE("an output whose shape changes") {
        tst::gradient_problem p = tanh_problem({2, 3});
        auto calls = std::make_shared<int>(0);
        p.forward = [calls](tst::input_views in) {
            return tensor<double>(++*calls > 2 ? shape{6} : in[0].shape());
        };
        CHECK_THROWS_WITH_AS(tst::check_gradients(p), doctest::Contains("output shape [2, 3]"), imbdef::error);
    }
}
