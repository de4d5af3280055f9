// A researcher's variant in a few lines: a new gating schedule for PGDI and a new blend for the
// defect branch, each a small class that satisfies its concept, plugged in at compile time (the
// blend into the stage-2 defect generator).
#include <cmath>
#include <cstdio>
#include <numbers>
#include <string_view>

#include <imbdef/models/background_generator.hpp>
#include <imbdef/models/defect_generator.hpp>
#include <imbdef/models/presets.hpp>
#include <imbdef/policies/blend.hpp>

namespace my {

// Detail injection that grows like sqrt(p): strong early, then saturating.
struct sqrt_schedule {
    static constexpr std::string_view name = "sqrt";
    double operator()(double p) const { return std::sqrt(imbdef::policies::checked_progress(p, name)); }
};

// A softer gate than the sigmoid: S = (1 + M / (1 + |M|)) / 2, with its derivative. The library
// lifts it into a blend, F = F_S + beta S(M) F_R, named "softsign_blend".
struct softsign_gate {
    static constexpr std::string_view name = "softsign";
    double value(double m) const { return 0.5 * (1.0 + m / (1.0 + std::abs(m))); }
    double derivative(double m) const { return 0.5 / ((1.0 + std::abs(m)) * (1.0 + std::abs(m))); }
};
using softsign_blend = imbdef::policies::gate_blend<softsign_gate>;

}  // namespace my

namespace models = imbdef::models;
namespace nn = imbdef::nn;
namespace core = imbdef::core;

int main() {
    static_assert(imbdef::policies::gating_schedule<my::sqrt_schedule> && imbdef::policies::blend_policy<my::softsign_blend>);
    // The background generator with PGDI driven by the new schedule, at the tiny preset.
    const auto& preset = models::preset_by_name("tiny");
    models::background_generator_config config;
    config.synthesis = preset.synthesis(3);
    config.z_dim = config.w_dim = preset.latent_dim;
    models::basic_background_generator<imbdef::policies::pgdi<my::sqrt_schedule>> g(config);
    nn::parameter_layout layout;
    g.declare(nn::registry(layout));
    nn::parameter_store<float> params(layout);
    params.initialize(7);
    core::tensor<float> z(core::shape{4, core::index_t{preset.latent_dim}});
    core::tensor<float> image(g.output_shape(z.shape()));
    core::fill_normal(z.view(), core::philox_stream{.seed = 1});
    decltype(g)::context<float> ctx;
    ctx.progress = 0.25;  // sqrt(0.25) = 0.5 of the detail injection
    g.forward(std::as_const(params).views(), z.cview(), image.view(), ctx);
    std::printf("generator with pgdi<%s>: image %s, alpha(0.25) = %.2f\n", std::string(my::sqrt_schedule::name).c_str(),
                image.shape().to_string().c_str(), my::sqrt_schedule{}(0.25));

    // The new blend on backbone features, a residual and a mask logit (the defect branch's inputs).
    core::tensor<float> fs({1, 2, 1, 3}, 1.0f), fr({1, 2, 1, 3}, 2.0f), m({1, 1, 1, 3}, {-4.0f, 0.0f, 4.0f}), f(fs.shape());
    my::softsign_blend{}.forward(fs.cview(), fr.cview(), m.cview(), f.view());
    std::printf("%s at M = -4, 0, 4: %.2f %.2f %.2f\n", std::string(my::softsign_blend::name).c_str(), f[0], f[1], f[2]);

    // The same blend inside the stage-2 defect generator: one template argument.
    models::basic_defect_generator<my::softsign_blend> dg(models::defect_generator_config_for(preset, 3));
    nn::parameter_layout dlayout;
    dg.declare(nn::registry(dlayout));
    nn::parameter_store<float> dparams(dlayout);
    dparams.initialize(7);
    core::tensor<float> zd(z.shape()), defect(dg.image_shape(4)), logit(dg.mask_shape(4)), background(dg.image_shape(4));
    core::fill_normal(zd.view(), core::philox_stream{.seed = 2});
    decltype(dg)::context<float> dctx;
    dg.forward(std::as_const(dparams).views(), z.cview(), zd.cview(), {},
               {.image = defect.view(), .mask_logit = logit.view(), .background = background.view()}, dctx);
    double change = 0;
    for (core::index_t i = 0; i < defect.numel(); ++i) change += std::abs(defect[i] - background[i]);
    std::printf("defect generator with %s, branch from L%d: mean |defect - background| = %.4f\n",
                std::string(my::softsign_blend::name).c_str(), dg.start_layer(), change / static_cast<double>(defect.numel()));
    return f[1] == 2.0f && f[0] < f[1] && f[1] < f[2] && change > 0 ? 0 : 1;
}
