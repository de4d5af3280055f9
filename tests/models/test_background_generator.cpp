// The background generator: official parameter counts, the mask channel, whole-network gradients
// in double (input z and every parameter), and determinism across thread counts.
#include <doctest/doctest.h>

#include <imbdef/core/parallel.hpp>
#include <imbdef/models/background_generator.hpp>
#include <imbdef/models/presets.hpp>
#include <imbdef/policies/detail_injection.hpp>
#include <imbdef/testing/module_check.hpp>

using namespace imbdef;

namespace {
// The official network has no detail injection.
using stylegan3_generator = models::basic_background_generator<policies::no_injection>;

long long parameter_count(const models::background_generator_config& c) {
    stylegan3_generator g(c);
    nn::parameter_layout layout;
    g.declare(nn::registry(layout));
    return layout.count(nn::tensor_role::parameter);
}
models::background_generator_config from_preset(std::string_view name, int mask_channels) {
    return models::background_generator_config_for(models::preset_by_name(name), 3, mask_channels);
}
models::background_generator_config micro() {
    models::background_generator_config c;
    c.synthesis.resolution = 16;
    c.synthesis.channel_base = 64;
    c.synthesis.channel_max = 3;
    c.synthesis.num_layers = 2;
    c.synthesis.num_critical = 1;
    c.synthesis.margin = 2;
    c.synthesis.image_channels = 1;
    c.synthesis.mask_channels = 1;
    c.z_dim = c.w_dim = 4;
    return c;
}
// PGDI as a unary module at a fixed progress, so module_problem can check it alone.
struct injection_module {
    policies::pgdi<> pgdi{};
    template <class T>
    using context = policies::pgdi<>::context<T>;
    void declare(const nn::registry& r) { pgdi.declare(r, 3); }
    core::shape output_shape(const core::shape& s) const { return s; }
    template <class T>
    void forward(nn::params_in<T> p, core::const_view<T> x, core::view<T> y, context<T>& ctx) const {
        pgdi.forward<T>(p, x, 0.35, y, ctx);
    }
    template <class T>
    void backward(nn::params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::view<T> dx, nn::grads_out<T> g,
                  core::grad_mode dm, core::grad_mode pm) const {
        pgdi.backward<T>(p, ctx, dy, dx, g, dm, pm);
    }
};

}  // namespace

TEST_CASE("parameter counts equal the official networks' (without the mask channel)") {
    models::background_generator_config t256;
    CHECK(parameter_count(t256) == 28472133);
    CHECK(parameter_count(from_preset("cpu64", 0)) == 1047623);
    CHECK(parameter_count(from_preset("tiny", 0)) == 57095);
    CHECK(parameter_count(from_preset("lite128", 0)) == 3780951);
    // The mask channel adds one output of the to-RGB layer: C_last weights and one bias.
    const auto last = models::make_synthesis_schedule(from_preset("cpu64", 1).synthesis).layers.back();
    CHECK(parameter_count(from_preset("cpu64", 1)) == 1047623 + last.in_channels + 1);
}

TEST_CASE("names follow the official ones; output has the mask channel") {
    models::background_generator g(from_preset("tiny", 1));
    nn::parameter_layout layout;
    g.declare(nn::registry(layout));
    CHECK(layout.find("mapping.fc1.weight").has_value());
    CHECK(layout.find("synthesis.input.affine.bias").has_value());
    CHECK(layout.find("synthesis.L4.weight").has_value());
    CHECK(layout.find("synthesis.L2.magnitude_ema").has_value());
    CHECK(g.output_shape({2, 64}) == core::shape{2, 4, 32, 32});

    nn::parameter_store<float> store(layout);
    store.initialize(1);
    core::tensor<float> z({2, 64}), img({2, 4, 32, 32});
    core::fill_normal(z.view(), core::philox_stream{.seed = 2});
    models::background_generator::context<float> ctx;
    g.forward(std::as_const(store).views(), z.cview(), img.view(), ctx);
    double energy = 0;
    for (float v : img) {
        CHECK(std::isfinite(v));
        energy += static_cast<double>(v) * v;
    }
    CHECK(energy > 0);
}

TEST_CASE("whole-network gradients of the generator: z and every parameter, in double") {
    const models::background_generator g(micro());
    testing::gradient_check_options o;
    o.max_elements_per_input = 12;
    const auto r = testing::check_gradients(testing::module_problem(g, testing::random_tensor({2, 4}, 7), 5), o);
    CHECK_MESSAGE(r.ok, r.to_string());
}

TEST_CASE("generation is bit-identical across thread counts") {
    models::background_generator g(from_preset("tiny", 1));
    nn::parameter_layout layout;
    g.declare(nn::registry(layout));
    nn::parameter_store<float> store(layout);
    store.initialize(3);
    core::tensor<float> z({4, 64}), a({4, 4, 32, 32}), b({4, 4, 32, 32});
    core::fill_normal(z.view(), core::philox_stream{.seed = 9});
    models::background_generator::context<float> ca, cb;
    const int saved = core::num_threads();
    core::set_num_threads(1);
    g.forward(std::as_const(store).views(), z.cview(), a.view(), ca);
    core::set_num_threads(2);
    g.forward(std::as_const(store).views(), z.cview(), b.view(), cb);
    core::set_num_threads(saved);
    int differ = 0;
    for (core::index_t i = 0; i < a.numel(); ++i) differ += a[i] != b[i];
    CHECK(differ == 0);
}

TEST_CASE("PGDI: declared at the chosen layer, identity at progress 0, gradients at both placements") {
    for (auto where : {models::injection_point::after_last_filtered_layer, models::injection_point::before_critical_layers}) {
        auto cfg = micro();
        cfg.injection = where;
        models::background_generator g(cfg);
        nn::parameter_layout layout;
        g.declare(nn::registry(layout));
        CHECK(layout.find("synthesis.injection.gate.bias").has_value());
        const int expected = where == models::injection_point::after_last_filtered_layer ? 1 : 0;
        CHECK(g.injection_layer() == expected);

        // At p = 0 the schedule's alpha is 0: the output equals the generator without injection.
        nn::parameter_store<double> store(layout);
        store.initialize(8);
        stylegan3_generator plain(cfg);
        nn::parameter_layout plain_layout;
        plain.declare(nn::registry(plain_layout));
        nn::parameter_store<double> plain_store(plain_layout);
        plain_store.initialize(8);
        const auto z = testing::random_tensor({2, 4}, 3);
        core::tensor<double> a(g.output_shape(z.shape())), b(a.shape());
        models::background_generator::context<double> ca;
        ca.progress = 0.0;
        g.forward(std::as_const(store).views(), z.cview(), a.view(), ca);
        stylegan3_generator::context<double> cb;
        plain.forward(std::as_const(plain_store).views(), z.cview(), b.view(), cb);
        for (core::index_t i = 0; i < a.numel(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-12));

        testing::gradient_check_options o;
        o.max_elements_per_input = 10;
        const auto r = testing::check_gradients(testing::module_problem(g, testing::random_tensor({2, 4}, 7), 5), o);
        CHECK_MESSAGE(r.ok, r.to_string());
    }
}

TEST_CASE("PGDI alone: gradients for features and gate parameters at mid progress") {
    const auto r = testing::check_gradients(testing::module_problem(injection_module{}, testing::random_tensor({2, 3, 5, 6}, 4), 2));
    CHECK_MESSAGE(r.ok, r.to_string());
}

TEST_CASE("the D-phase pass updates w_avg and every magnitude EMA as StyleGAN3 does, then truncation uses w_avg") {
    models::background_generator g(micro());
    nn::parameter_layout layout;
    g.declare(nn::registry(layout));
    nn::parameter_store<double> store(layout), expected(layout);
    store.initialize(4);
    expected.initialize(4);
    const core::tensor<double> z = testing::random_tensor({3, 4}, 11);
    const core::shape out = g.output_shape(z.shape());
    core::tensor<double> y_plain(out), y_updated(out), y_again(out);
    models::background_generator::context<double> ctx;
    CHECK(g.w_average<double>(std::as_const(store).views())[0] == 0.0);

    // Expected buffers, computed from the plain pass (its contexts hold each layer's input) with
    // the update rule applied layer by layer: each layer's input depends on the earlier updates,
    // so recompute with a copy whose buffers are set progressively.
    const models::background_generator::buffer_decay decay{0.9, 0.7};
    {
        g.forward(std::as_const(expected).views(), z.cview(), y_plain.view(), ctx);
        const auto w = ctx.mapping_out.back().cview();
        for (core::index_t j = 0; j < 4; ++j) {
            double mean = 0;
            for (core::index_t i = 0; i < 3; ++i) mean += w(i, j);
            mean /= 3;
            expected.views()["mapping.w_avg"][j] = mean + 0.9 * (0.0 - mean);
        }
        for (std::size_t k = 0; k < g.layers().size(); ++k) {
            g.forward(std::as_const(expected).views(), z.cview(), y_plain.view(), ctx);  // inputs with updates so far
            const auto x = ctx.layer[k].x;  // the input the layer saw (after the detail injection, if any)
            double ms = 0;
            for (core::index_t i = 0; i < x.numel(); ++i) ms += x[i] * x[i];
            ms /= static_cast<double>(x.numel());
            const std::string name = "synthesis.L" + std::to_string(k) + ".magnitude_ema";
            double& e = expected.views()[name][0];
            e = ms + 0.7 * (e - ms);
        }
    }
    g.forward_updating_buffers(store.views(), z.cview(), y_updated.view(), ctx, decay);
    const auto got = std::as_const(store).views().flat(nn::tensor_role::buffer);
    const auto want = std::as_const(expected).views().flat(nn::tensor_role::buffer);
    for (core::index_t i = 0; i < got.numel(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-12));
    // The output is the plain forward's with the updated buffers.
    g.forward(std::as_const(store).views(), z.cview(), y_again.view(), ctx);
    for (core::index_t i = 0; i < y_again.numel(); ++i) CHECK(y_again[i] == y_updated[i]);

    // psi = 0 maps every z to the average latent: all samples equal.
    ctx.truncation_psi = 0.0;
    g.forward(std::as_const(store).views(), z.cview(), y_again.view(), ctx);
    const core::index_t per = y_again.numel() / 3;
    for (core::index_t i = 0; i < per; ++i) CHECK(y_again[i] == doctest::Approx(y_again[per + i]).epsilon(1e-12));
    ctx.truncation_psi = std::nan("");
    CHECK_THROWS_AS(g.forward(std::as_const(store).views(), z.cview(), y_again.view(), ctx), imbdef::error);
}

namespace {
// A generator whose forward always runs at psi = 0.6 (w_avg is a constant buffer).
struct truncated_generator {
    models::background_generator g{micro()};
    template <class T>
    using context = models::background_generator::context<T>;
    void declare(const nn::registry& r) { g.declare(r); }
    core::shape output_shape(const core::shape& s) const { return g.output_shape(s); }
    template <class T>
    void forward(nn::params_in<T> p, core::const_view<T> z, core::view<T> y, context<T>& ctx) const {
        ctx.truncation_psi = 0.6;
        g.forward<T>(p, z, y, ctx);
    }
    template <class T>
    void backward(nn::params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::view<T> dz, nn::grads_out<T> gr,
                  core::grad_mode dm, core::grad_mode pm) const {
        g.backward<T>(p, ctx, dy, dz, gr, dm, pm);
    }
};
}  // namespace

TEST_CASE("gradients with truncation (psi = 0.6): the latent gradient is scaled by psi") {
    const truncated_generator t;
    testing::gradient_check_options o;
    o.max_elements_per_input = 12;
    auto problem = testing::module_problem(t, testing::random_tensor({2, 4}, 8), 7);
    const auto r = testing::check_gradients(problem, o);
    CHECK_MESSAGE(r.ok, r.to_string());
}
