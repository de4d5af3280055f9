// The stage-2 defect generator: the frozen backbone (buffers only, never written), whole-network
// gradients in double over every trained part (branch, to-mask, defect mapping, class embedding,
// z_d), the mask's gradient through the soft blend and none through the hard gate, the mask's
// alignment with the layers' own resampling, class conditioning, several passes, bad input.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <span>
#include <vector>

#include <imbdef/models/defect_generator.hpp>
#include <imbdef/models/defect_maps.hpp>
#include <imbdef/models/presets.hpp>
#include <imbdef/testing/module_check.hpp>

using namespace imbdef;

namespace {

// A small network: 16 px, 3 synthesis layers (L0 .. L2) and to-RGB L3.
models::defect_generator_config micro(int start_layer = 0, int classes = 1) {
    models::defect_generator_config c;
    auto& b = c.background;
    b.synthesis.resolution = 16;
    b.synthesis.channel_base = 64;
    b.synthesis.channel_max = 3;
    b.synthesis.num_layers = 3;
    b.synthesis.num_critical = 1;
    b.synthesis.margin = 2;
    b.synthesis.image_channels = 1;
    b.synthesis.mask_channels = 1;
    b.z_dim = b.w_dim = 4;
    c.z_dim = c.w_dim = 3;
    c.start_layer = start_layer;
    c.num_classes = classes;
    return c;
}

// The defect generator as a unary module z_d -> [image, M] (channels), with a fixed background
// code and fixed classes, so module_problem proves it against finite differences.
template <class Blend = policies::sigmoid_blend>
struct defect_module {
    models::basic_defect_generator<Blend> g;
    std::vector<int> classes{};
    double progress = 1.0;
    using G = models::basic_defect_generator<Blend>;
    template <class T>
    struct context {
        typename G::template context<T> g;
        core::tensor<T> z, image, mask, d_image, d_mask;
    };
    void declare(const nn::registry& r) { g.declare(r); }
    core::shape output_shape(const core::shape& zd) const {
        const core::index_t k = g.passes_of(zd);
        return {zd[0], g.image_channels() + k, g.resolution(), g.resolution()};
    }
    template <class T>
    void fixed_z(core::tensor<T>& z, core::index_t n) const {
        z = core::tensor<T>({n, g.config().background.z_dim});
        for (core::index_t i = 0; i < z.numel(); ++i) z[i] = static_cast<T>(std::sin(1.7 * static_cast<double>(i) + 0.3));
    }
    template <class T>
    void forward(nn::params_in<T> p, core::const_view<T> zd, core::view<T> y, context<T>& ctx) const {
        const core::index_t n = zd.size(0), k = g.passes_of(zd.shape()), c = g.image_channels(),
                            plane = g.resolution() * g.resolution();
        fixed_z(ctx.z, n);
        ctx.image = core::tensor<T>(g.image_shape(n));
        ctx.mask = core::tensor<T>(g.mask_shape(n, k));
        ctx.g.progress = progress;
        g.forward(p, ctx.z.cview(), zd, std::span<const int>(classes), {.image = ctx.image.view(), .mask_logit = ctx.mask.view()},
                  ctx.g);
        for (core::index_t s = 0; s < n; ++s) {
            for (core::index_t q = 0; q < c * plane; ++q) y[s * (c + k) * plane + q] = ctx.image[s * c * plane + q];
            for (core::index_t q = 0; q < k * plane; ++q) y[(s * (c + k) + c) * plane + q] = ctx.mask[s * k * plane + q];
        }
    }
    template <class T>
    void backward(nn::params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::view<T> dzd, nn::grads_out<T> gr,
                  core::grad_mode dm, core::grad_mode pm) const {
        const core::index_t n = ctx.image.size(0), k = ctx.mask.size(1), c = g.image_channels(),
                            plane = g.resolution() * g.resolution();
        ctx.d_image = core::tensor<T>(ctx.image.shape());
        ctx.d_mask = core::tensor<T>(ctx.mask.shape());
        for (core::index_t s = 0; s < n; ++s) {
            for (core::index_t q = 0; q < c * plane; ++q) ctx.d_image[s * c * plane + q] = dy[s * (c + k) * plane + q];
            for (core::index_t q = 0; q < k * plane; ++q) ctx.d_mask[s * k * plane + q] = dy[(s * (c + k) + c) * plane + q];
        }
        g.backward(p, ctx.g, ctx.d_image.cview(), ctx.d_mask.cview(), dzd, gr, dm, pm);
    }
};

template <class Blend = policies::sigmoid_blend>
testing::check_report check_whole(defect_module<Blend> m, const core::shape& zd_shape, core::index_t per_input = 8) {
    testing::gradient_check_options o;
    o.max_elements_per_input = per_input;
    // The bias of a branch layer moves every pre-activation of its plane at once, so a step of
    // 1e-4 already crosses some leaky-ReLU kinks: smaller steps too (double has the digits).
    o.steps = {1e-3, 1e-4, 1e-5, 1e-6, 1e-7};
    return testing::check_gradients(testing::module_problem(std::move(m), testing::random_tensor(zd_shape, 11), 3), o);
}

struct network {
    models::defect_generator g;
    nn::parameter_layout layout;
    std::unique_ptr<nn::parameter_store<double>> store;
    explicit network(const models::defect_generator_config& c, std::uint64_t seed = 3) : g(c) {
        g.declare(nn::registry(layout));
        store = std::make_unique<nn::parameter_store<double>>(layout);
        store->initialize(seed);
    }
};

core::tensor<double> filled(const core::shape& s, double phase) {
    core::tensor<double> t(s);
    for (core::index_t i = 0; i < t.numel(); ++i) t[i] = std::sin(0.91 * static_cast<double>(i) + phase);
    return t;
}

}  // namespace

TEST_CASE("the backbone is frozen: declared as buffers under 'background.', the rest trained") {
    network net(micro(1, 3));
    for (const auto& e : net.layout.entries()) {
        if (e.name.rfind("background.", 0) == 0)
            CHECK_MESSAGE(e.role == nn::tensor_role::buffer, e.name);
    }
    for (const char* name : {"defect_mapping.embed.weight", "defect_mapping.fc0.weight", "defect_mapping.fc1.bias",
                             "branch.L1.weight", "branch.L2.affine.weight", "to_mask.weight", "to_mask.affine.bias"}) {
        const auto r = net.layout.find(name);
        REQUIRE_MESSAGE(r.has_value(), name);
        CHECK(r->role == nn::tensor_role::parameter);
    }
    CHECK_FALSE(net.layout.find("branch.L0.weight").has_value());  // before the start layer
    CHECK_FALSE(net.layout.find("branch.L3.weight").has_value());  // to-RGB has no branch
    CHECK(net.layout.find("background.synthesis.L0.weight")->role == nn::tensor_role::buffer);
    // fc0 reads [z_d, embed(c)]: 3 + 3 inputs.
    CHECK(net.layout[*net.layout.find("defect_mapping.fc0.weight")].shape == core::shape{3, 6});
    CHECK(net.layout[*net.layout.find("to_mask.weight")].shape == core::shape{1, 3, 1, 1});
}

TEST_CASE("whole defect generator, in double: branch, to-mask, mapping and z_d gradients match finite differences") {
    for (int start : {0, 1, 2}) {
        CAPTURE(start);
        const auto r = check_whole(defect_module<>{models::defect_generator(micro(start))}, {2, 3});
        CHECK_MESSAGE(r.ok, r.to_string());
    }
}

TEST_CASE("class embedding: its gradient and the mapping's match finite differences, with mixed classes") {
    defect_module<> m{models::defect_generator(micro(1, 3)), {2, 0}};
    const auto r = check_whole(m, {2, 3});
    CHECK_MESSAGE(r.ok, r.to_string());
}

TEST_CASE("several passes per image: gradients of every pass's code and the shared weights") {
    defect_module<> m{models::defect_generator(micro(1, 2)), {0, 1, 1, 0}};
    const auto r = check_whole(m, {2, 2, 3});
    CHECK_MESSAGE(r.ok, r.to_string());
}

TEST_CASE("a scheduled blend: gradients at mid progress") {
    using blend = policies::scheduled_sigmoid_blend<>;
    defect_module<blend> m{models::basic_defect_generator<blend>(micro(1)), {}, 0.4};
    const auto r = check_whole(m, {2, 3});
    CHECK_MESSAGE(r.ok, r.to_string());
}

TEST_CASE("no gradient reaches the frozen backbone: its would-be gradient storage stays NaN, bit for bit") {
    network net(micro(0, 2));
    const core::index_t n = 2;
    const auto& g = net.g;
    core::tensor<double> z = filled({n, 4}, 0.1), zd = filled({n, 3}, 0.7), image(g.image_shape(n)), m(g.mask_shape(n));
    const std::vector<int> classes{1, 0};
    models::defect_generator::context<double> ctx;
    g.forward(std::as_const(*net.store).views(), z.cview(), zd.cview(), classes, {.image = image.view(), .mask_logit = m.view()}, ctx);
    nn::parameter_store<double> grads(net.layout);
    for (double& v : grads.parameters()) v = std::numeric_limits<double>::quiet_NaN();
    for (double& v : grads.buffers()) v = std::numeric_limits<double>::quiet_NaN();
    const std::vector<double> before(net.store->buffers().begin(), net.store->buffers().end());
    core::tensor<double> d_image = filled(image.shape(), 0.2), d_m = filled(m.shape(), 0.5), dzd(zd.shape());
    g.backward(std::as_const(*net.store).views(), ctx, d_image.cview(), d_m.cview(), dzd.view(), grads.views(),
               core::grad_mode::assign, core::grad_mode::assign);
    // Every frozen tensor (buffers) keeps its NaN gradient; every trained one is written and finite.
    for (const auto& e : net.layout.entries()) {
        const auto v = grads.views()[e.name];
        bool all_nan = true, all_finite = true;
        for (double x : v) {
            all_nan = all_nan && std::isnan(x);
            all_finite = all_finite && std::isfinite(x);
        }
        if (e.role == nn::tensor_role::buffer)
            CHECK_MESSAGE(all_nan, e.name);
        else
            CHECK_MESSAGE(all_finite, e.name);
    }
    // And the frozen values themselves are unchanged.
    for (std::size_t i = 0; i < before.size(); ++i) REQUIRE(std::bit_cast<std::uint64_t>(before[i]) == std::bit_cast<std::uint64_t>(net.store->buffers()[static_cast<core::index_t>(i)]));
}

TEST_CASE("the mask head learns from the image loss through the sigmoid blend, and not through the hard gate") {
    const auto to_mask_gradient = [](auto generator) {
        nn::parameter_layout layout;
        generator.declare(nn::registry(layout));
        nn::parameter_store<double> store(layout), grads(layout);
        store.initialize(5);
        const core::index_t n = 2;
        core::tensor<double> z = filled({n, 4}, 0.1), zd = filled({n, 3}, 0.7), image(generator.image_shape(n)),
                             m(generator.mask_shape(n));
        typename decltype(generator)::template context<double> ctx;
        generator.forward(std::as_const(store).views(), z.cview(), zd.cview(), {}, {.image = image.view(), .mask_logit = m.view()}, ctx);
        core::tensor<double> d_image = filled(image.shape(), 0.2), dzd(zd.shape());
        // The image loss only: no gradient on M itself.
        generator.backward(std::as_const(store).views(), ctx, d_image.cview(), core::const_view<double>{}, dzd.view(),
                           grads.views(), core::grad_mode::assign, core::grad_mode::assign);
        double sum = 0;
        for (const char* name : {"to_mask.weight", "to_mask.bias", "to_mask.affine.weight"})
            for (double v : grads.views()[name]) sum += std::abs(v);
        return sum;
    };
    CHECK(to_mask_gradient(models::basic_defect_generator<policies::sigmoid_blend>(micro(0))) > 1e-6);
    CHECK(to_mask_gradient(models::basic_defect_generator<policies::hard_gate_blend>(micro(0))) == 0.0);
}

TEST_CASE("mask resampling is the layer's own: a synthesis layer on a positive one-channel map agrees with it") {
    // A one-channel synthesis layer whose conv is the centre tap: demodulation makes its weight
    // 1, its input gain is 1, and on positive values the activation is gain * x; so away from the
    // border (where zero padding makes the up-sampled values ring below 0) the layer computes
    // sqrt(2) * resample(x), through the same padding, filters and factors.
    const auto schedule = models::make_synthesis_schedule(models::preset_by_name("tiny").synthesis(3));
    for (const auto& spec : schedule.layers) {
        if (spec.is_torgb) continue;
        CAPTURE(spec.index);
        models::layer_spec one = spec;
        one.in_channels = one.out_channels = 1;
        nn::synthesis_layer layer(one, 2);
        nn::parameter_layout layout;
        layer.declare(nn::registry(layout));
        nn::parameter_store<double> store(layout);
        store.initialize(1);
        auto v = store.views();
        for (double& x : v["weight"]) x = 0;
        v["weight"][(one.kernel / 2) * one.kernel + one.kernel / 2] = 1;  // the centre tap
        const core::index_t s = spec.in_size;
        core::tensor<double> m({1, 1, s, s}), w({1, 2}, 0.5);
        const double c = (static_cast<double>(s) - 1) / 2;
        for (core::index_t y = 0; y < s; ++y)
            for (core::index_t x = 0; x < s; ++x)
                m(0, 0, y, x) = 3 + std::exp(-((y - c) * (y - c) + (x - c - 1) * (x - c - 1)) / (0.05 * s * s));
        core::tensor<double> via_layer(layer.output_shape(m.shape())), via_resampler(via_layer.shape());
        nn::synthesis_layer::context<double> lctx;
        layer.forward(std::as_const(store).views(), m.cview(), w.cview(), via_layer.view(), lctx);
        models::mask_resampler r(spec);
        models::mask_resampler::context<double> rctx;
        r.forward(m.cview(), via_resampler.view(), rctx);
        const core::index_t o = spec.out_size, border = o / 4;
        double worst = 0;
        for (core::index_t y = border; y < o - border; ++y)
            for (core::index_t x = border; x < o - border; ++x)
                worst = std::max(worst, std::abs(via_layer(0, 0, y, x) / std::sqrt(2.0) - via_resampler(0, 0, y, x)));
        // Exact but for demodulation's epsilon: the unit weight becomes s / sqrt(s^2 + 1e-8).
        CHECK(worst < 1e-6);
    }
}

TEST_CASE("mask resampling: its backward is the adjoint of its forward") {
    const auto schedule = models::make_synthesis_schedule(models::preset_by_name("tiny").synthesis(3));
    for (const auto& spec : schedule.layers) {
        CAPTURE(spec.index);
        models::mask_resampler r(spec);
        models::mask_resampler::context<double> ctx;
        core::tensor<double> m = filled({2, 1, spec.in_size, spec.in_size}, 0.3);
        core::tensor<double> y({2, 1, spec.out_size, spec.out_size});
        r.forward(m.cview(), y.view(), ctx);
        core::tensor<double> dy = filled(y.shape(), 1.1), dm(m.shape());
        r.backward(ctx, dy.cview(), dm.view(), core::grad_mode::assign);
        double a = 0, b = 0;
        for (core::index_t i = 0; i < y.numel(); ++i) a += y[i] * dy[i];
        for (core::index_t i = 0; i < m.numel(); ++i) b += m[i] * dm[i];
        CHECK(a == doctest::Approx(b).epsilon(1e-10));
    }
}

TEST_CASE("alignment at the output: with the hard gate at the last filtered layer, the image changes exactly where m is 1") {
    auto c = micro(2);  // the blend right before the pixel-local to-RGB layer
    c.composite.radius = -1;  // the network's own alignment, without the output composite
    models::basic_defect_generator<policies::hard_gate_blend> g(c);
    nn::parameter_layout layout;
    g.declare(nn::registry(layout));
    nn::parameter_store<double> store(layout);
    store.initialize(9);
    const core::index_t n = 3;
    core::tensor<double> z = filled({n, 4}, 0.1), zd = filled({n, 3}, 0.4), image(g.image_shape(n)), bg(g.image_shape(n)),
                         logit(g.mask_shape(n)), m(g.mask_shape(n)), b(g.mask_shape(n));
    decltype(g)::context<double> ctx;
    g.forward(std::as_const(store).views(), z.cview(), zd.cview(), {},
              {.image = image.view(), .mask_logit = logit.view(), .mask = m.view(), .background = bg.view(), .valid_region = b.view()},
              ctx);
    core::index_t inside = 0, outside = 0, changed_inside = 0;
    for (core::index_t i = 0; i < image.numel(); ++i) {
        const bool in = logit[i] >= 0;
        const double change = image[i] - bg[i];
        if (in) {
            ++inside;
            changed_inside += change != 0;
        } else {
            ++outside;
            CHECK(change == 0.0);
        }
        CHECK(m[i] == (in && b[i] > 0 ? 1.0 : 0.0));
    }
    CHECK(inside > 0);
    CHECK(outside > 0);
    CHECK(changed_inside == inside);
}

TEST_CASE("class conditioning: two classes with the same codes give different masks") {
    network net(micro(1, 2));
    const core::index_t n = 2;
    core::tensor<double> z = filled({1, 4}, 0.1), zd = filled({1, 3}, 0.3);
    core::tensor<double> zz({n, 4}), zzd({n, 3});
    for (core::index_t i = 0; i < n; ++i) {
        for (core::index_t j = 0; j < 4; ++j) zz(i, j) = z(0, j);
        for (core::index_t j = 0; j < 3; ++j) zzd(i, j) = zd(0, j);
    }
    core::tensor<double> image(net.g.image_shape(n)), logit(net.g.mask_shape(n));
    const std::vector<int> classes{0, 1};
    models::defect_generator::context<double> ctx;
    net.g.forward(std::as_const(*net.store).views(), zz.cview(), zzd.cview(), classes,
                  {.image = image.view(), .mask_logit = logit.view()}, ctx);
    const core::index_t plane = logit.numel() / n;
    double diff = 0;
    for (core::index_t q = 0; q < plane; ++q) diff += std::abs(logit[q] - logit[plane + q]);
    CHECK(diff > 1e-6 * static_cast<double>(plane));
}

TEST_CASE("the background is shared: branch off, the background output is the stage-1 generator's bit for bit") {
    network net(micro(1));
    const core::index_t n = 2;
    core::tensor<double> z = filled({n, 4}, 0.1), zd = filled({n, 3}, 0.3), image(net.g.image_shape(n)),
                         logit(net.g.mask_shape(n)), bg(net.g.image_shape(n)), b(net.g.mask_shape(n));
    models::defect_generator::context<double> ctx;
    net.g.forward(std::as_const(*net.store).views(), z.cview(), zd.cview(), {},
                  {.image = image.view(), .mask_logit = logit.view(), .background = bg.view(), .valid_region = b.view()}, ctx);
    // The stand-alone stage-1 generator with the same weights.
    models::background_generator stage1(net.g.config().background);
    nn::parameter_layout layout;
    stage1.declare(nn::registry(layout));
    nn::parameter_store<double> weights(layout);
    for (const auto& e : layout.entries()) core::copy(core::const_view<double>(std::as_const(*net.store).views()["background." + e.name]), weights.views()[e.name]);
    core::tensor<double> out(stage1.output_shape(z.shape()));
    models::background_generator::context<double> sctx;
    stage1.forward(std::as_const(weights).views(), z.cview(), out.view(), sctx);
    const core::index_t plane = 16 * 16;
    for (core::index_t s = 0; s < n; ++s)
        for (core::index_t q = 0; q < plane; ++q) {
            REQUIRE(bg[s * plane + q] == out[s * 2 * plane + q]);
            REQUIRE(b[s * plane + q] == (out[(s * 2 + 1) * plane + q] >= 0 ? 1.0 : 0.0));
        }
}

TEST_CASE("bad input is named: class out of range, K of 0, start layer out of range, wrong shapes") {
    CHECK_THROWS_WITH_AS(models::defect_generator(micro(3)), doctest::Contains("start layer"), imbdef::error);
    CHECK_THROWS_WITH_AS(models::defect_generator(micro(-2)), doctest::Contains("start layer"), imbdef::error);
    network net(micro(1, 2));
    const core::index_t n = 2;
    core::tensor<double> z = filled({n, 4}, 0.1), zd = filled({n, 3}, 0.3), image(net.g.image_shape(n)), logit(net.g.mask_shape(n));
    models::defect_generator::context<double> ctx;
    const auto run = [&](core::const_view<double> codes, std::vector<int> classes, core::view<double> lg) {
        net.g.forward(std::as_const(*net.store).views(), z.cview(), codes, classes, {.image = image.view(), .mask_logit = lg}, ctx);
    };
    CHECK_THROWS_WITH_AS(run(zd.cview(), {0, 2}, logit.view()), doctest::Contains("found 2 for sample 1"), imbdef::error);
    CHECK_THROWS_WITH_AS(run(zd.cview(), {0}, logit.view()), doctest::Contains("labels"), imbdef::error);
    core::tensor<double> zero_k({n, 0, 3});
    CHECK_THROWS_WITH_AS(run(zero_k.cview(), {}, logit.view()), doctest::Contains("K >= 1"), imbdef::error);
    core::tensor<double> wrong({n, 5});
    CHECK_THROWS_WITH_AS(run(wrong.cview(), {0, 1}, logit.view()), doctest::Contains("z_d"), imbdef::error);
    core::tensor<double> two_pass_logit(net.g.mask_shape(n, 2));
    CHECK_THROWS_WITH_AS(run(zd.cview(), {0, 1}, two_pass_logit.view()), doctest::Contains("mask_logit"), imbdef::error);
    run(zd.cview(), {0, 1}, logit.view());  // and the right input runs
}

TEST_CASE("several defects in one image: instance and class maps, the later pass wins where masks overlap") {
    // One sample, three passes on a 1 x 4 image: pass 0 covers pixels 0-1, pass 1 pixels 1-2, pass 2 none.
    core::tensor<double> masks({1, 3, 1, 4}, {1, 1, 0, 0, /**/ 0, 1, 1, 0, /**/ 0, 0, 0, 0});
    const std::vector<int> classes{4, 2, 0};
    core::tensor<std::int32_t> inst({1, 1, 4}), cls({1, 1, 4});
    models::compose_defect_maps<double>(masks.cview(), classes, inst.view(), cls.view());
    CHECK(std::vector<std::int32_t>(inst.begin(), inst.end()) == std::vector<std::int32_t>{1, 2, 2, 0});
    CHECK(std::vector<std::int32_t>(cls.begin(), cls.end()) == std::vector<std::int32_t>{5, 3, 3, 0});
    const std::vector<int> too_few{4, 2};
    CHECK_THROWS_WITH_AS(models::compose_defect_maps<double>(masks.cview(), too_few, inst.view(), cls.view()),
                         doctest::Contains("3 class labels"), imbdef::error);
}

TEST_CASE("a loss on the defect styles (the mode-seeking term's) reaches z_d and the mapping exactly") {
    network net(micro(1, 2));
    const core::index_t n = 2;
    core::tensor<double> z = filled({n, 4}, 0.1), zd = filled({n, 3}, 0.3), image(net.g.image_shape(n)), logit(net.g.mask_shape(n));
    const std::vector<int> classes{1, 0};
    const auto styles_loss = [&](const core::tensor<double>& codes, const core::tensor<double>& r) {
        models::defect_generator::context<double> ctx;
        net.g.forward(std::as_const(*net.store).views(), z.cview(), codes.cview(), classes, {.image = image.view(), .mask_logit = logit.view()}, ctx);
        const auto w = models::defect_generator::styles(ctx);
        double l = 0;
        for (core::index_t i = 0; i < w.numel(); ++i) l += r[i] * w[i];
        return l;
    };
    core::tensor<double> r = filled({n, 3}, 1.3);
    models::defect_generator::context<double> ctx;
    net.g.forward(std::as_const(*net.store).views(), z.cview(), zd.cview(), classes, {.image = image.view(), .mask_logit = logit.view()}, ctx);
    core::tensor<double> zero(image.shape()), dzd(zd.shape());
    nn::parameter_store<double> grads(net.layout);
    net.g.backward(std::as_const(*net.store).views(), ctx, zero.cview(), core::const_view<double>{}, dzd.view(), grads.views(),
                   core::grad_mode::assign, core::grad_mode::assign, r.cview());
    for (core::index_t i = 0; i < zd.numel(); ++i) {
        const double h = 1e-6;
        core::tensor<double> plus = zd.clone(), minus = zd.clone();
        plus[i] += h;
        minus[i] -= h;
        CHECK(dzd[i] == doctest::Approx((styles_loss(plus, r) - styles_loss(minus, r)) / (2 * h)).epsilon(1e-6));
    }
    // The branch and the to-mask conv do not see a loss on the styles alone.
    for (double v : grads.views()["branch.L1.weight"]) CHECK(v == 0.0);
    double mapping = 0;
    for (double v : grads.views()["defect_mapping.fc1.weight"]) mapping += std::abs(v);
    CHECK(mapping > 0);
    core::tensor<double> wrong({n, 5});
    CHECK_THROWS_WITH_AS(net.g.backward(std::as_const(*net.store).views(), ctx, zero.cview(), core::const_view<double>{}, dzd.view(),
                                        grads.views(), core::grad_mode::assign, core::grad_mode::assign, wrong.cview()),
                         doctest::Contains("d_style"), imbdef::error);
}

TEST_CASE("output composite: B is 1 on the mask, soft within the radius, exactly 0 beyond it") {
    const core::index_t r = 12;
    std::vector<double> weight(r * r), scratch(r * r);
    // One defect pixel block at rows 5-6, columns 4-5, and one at the border (row 0, column 11).
    const auto inside = [](core::index_t q) {
        const core::index_t y = q / 12, x = q % 12;
        return (y >= 5 && y <= 6 && x >= 4 && x <= 5) || (y == 0 && x == 11);
    };
    const auto chebyshev = [&](core::index_t q) {
        core::index_t best = 1000;
        for (core::index_t p = 0; p < r * r; ++p)
            if (inside(p)) best = std::min(best, std::max(std::abs(p / r - q / r), std::abs(p % r - q % r)));
        return best;
    };
    for (const int radius : {2, 3, 5}) {
        models::output_composite{radius}.weights(r, inside, scratch.data(), weight.data());
        for (core::index_t q = 0; q < r * r; ++q) {
            const auto d = chebyshev(q);
            CAPTURE(radius);
            CAPTURE(q);
            if (d == 0) CHECK(weight[q] == 1.0);
            else if (d > radius) CHECK(weight[q] == 0.0);
            else CHECK((weight[q] > 0.0 && weight[q] <= 1.0));
        }
    }
    models::output_composite{0}.weights(r, inside, scratch.data(), weight.data());
    for (core::index_t q = 0; q < r * r; ++q) CHECK(weight[q] == (inside(q) ? 1.0 : 0.0));
    models::output_composite{-1}.weights(r, inside, scratch.data(), weight.data());
    for (core::index_t q = 0; q < r * r; ++q) CHECK(weight[q] == 1.0);
    auto c = micro(0);
    c.composite.radius = 1;
    CHECK_THROWS_WITH_AS(models::defect_generator{c}, doctest::Contains("composite"), imbdef::error);
}

TEST_CASE("output composite: beyond the band around the mask the defect image is the background bit for bit; off, the soft blend leaks there") {
    const auto changed_far_outside = [](int radius) {
        auto c = micro(0);
        c.composite.radius = radius;
        network net(c, 11);
        const core::index_t n = 4, plane = 16 * 16;
        core::tensor<double> z = filled({n, 4}, 0.1), zd({n, 3}), image(net.g.image_shape(n)), logit(net.g.mask_shape(n)),
                             m(net.g.mask_shape(n)), bg(net.g.image_shape(n));
        for (core::index_t i = 0; i < zd.numel(); ++i) zd[i] = std::sin(1.7 * static_cast<double>(i));
        models::defect_generator::context<double> ctx;
        net.g.forward(std::as_const(*net.store).views(), z.cview(), zd.cview(), {},
                      {.image = image.view(), .mask_logit = logit.view(), .mask = m.view(), .background = bg.view()}, ctx);
        core::index_t far = 0, changed = 0, masked = 0;
        for (core::index_t s = 0; s < n; ++s)
            for (core::index_t q = 0; q < plane; ++q) {
                masked += m[s * plane + q] > 0;
                bool near = false;
                for (core::index_t p = 0; p < plane && !near; ++p)
                    near = m[s * plane + p] > 0 && std::max(std::abs(p / 16 - q / 16), std::abs(p % 16 - q % 16)) <= 2;
                if (near) continue;
                ++far;
                changed += image[s * plane + q] != bg[s * plane + q];
            }
        REQUIRE(masked > 0);
        REQUIRE(far > 0);
        return changed;
    };
    CHECK(changed_far_outside(2) == 0);
    CHECK(changed_far_outside(-1) > 0);
}

TEST_CASE("output composite: the whole generator's gradients still match finite differences, radius 0 and off") {
    for (const int radius : {0, -1}) {
        auto c = micro(1);
        c.composite.radius = radius;
        CAPTURE(radius);
        const auto r = check_whole(defect_module<>{models::defect_generator(c)}, {2, 3});
        CHECK_MESSAGE(r.ok, r.to_string());
    }
}
