// Whole networks: the stage-1 background generator's forward pass against the stage-2 defect
// generator's one pass (background, valid region, defect image, mask logit and mask), on the same
// backbone, weights and latents. Items are images; the "flop" counter is the layer tables'
// (models/cost.hpp, `imbdef info --stage defect`), so FLOP/s compare directly.
//   bench_models --benchmark_filter=cpu64   (IMBDEF_NUM_THREADS sets the threads)
// The defect pass runs at METHOD.md's default start layer and at a later one (cpu64: L4, whose
// FLOPs stay under twice the background's: the branch covers the last two filtered layers).
#include <benchmark/benchmark.h>

#include <string>

#include <imbdef/core/random.hpp>
#include <imbdef/models/cost.hpp>
#include <imbdef/models/defect_generator.hpp>
#include <imbdef/models/presets.hpp>

namespace {

using namespace imbdef;

struct generation_fixture {
    const models::preset& p;
    models::defect_generator g;
    nn::parameter_layout layout;
    std::unique_ptr<nn::parameter_store<float>> params;
    core::tensor<float> z, zd, image, logit, mask, background, valid, bg_out;
    models::defect_generator::context<float> ctx;
    models::defect_generator::background_type::context<float> bctx;

    static models::defect_generator_config config(const models::preset& p, int start_layer) {
        auto c = models::defect_generator_config_for(p, 3);
        c.start_layer = start_layer;
        return c;
    }
    generation_fixture(const std::string& preset, core::index_t n, int start_layer = -1)
        : p(models::preset_by_name(preset)), g(config(p, start_layer)) {
        g.declare(nn::registry(layout));
        params = std::make_unique<nn::parameter_store<float>>(layout);
        params->initialize(1);
        g.initialize_from_background(params->views());
        z = core::tensor<float>({n, p.latent_dim});
        zd = core::tensor<float>({n, p.latent_dim});
        core::fill_normal(z.view(), core::philox_stream{.seed = 1});
        core::fill_normal(zd.view(), core::philox_stream{.seed = 2});
        image = core::tensor<float>(g.image_shape(n));
        background = core::tensor<float>(g.image_shape(n));
        logit = core::tensor<float>(g.mask_shape(n));
        mask = core::tensor<float>(g.mask_shape(n));
        valid = core::tensor<float>(g.mask_shape(n));
        bg_out = core::tensor<float>(g.background().output_shape(z.shape()));
    }
    void background_only() { g.background().forward(std::as_const(*params).views(), z.cview(), bg_out.view(), bctx); }
    void with_defect() {
        g.forward(std::as_const(*params).views(), z.cview(), zd.cview(), {},
                  {.image = image.view(), .mask_logit = logit.view(), .mask = mask.view(), .background = background.view(),
                   .valid_region = valid.view()},
                  ctx);
    }
    double background_macs() const {
        return models::total_cost(models::generator_costs(g.background().schedule(), p.latent_dim, p.latent_dim)).mac_total();
    }
    double defect_macs() const {
        return models::total_cost(models::defect_path_costs(g.background().schedule(), g.start_layer(), p.latent_dim, p.latent_dim))
            .mac_total();
    }
};

void report(benchmark::State& state, core::index_t n, double macs_per_image) {
    state.SetItemsProcessed(state.iterations() * n);
    state.counters["flop"] = benchmark::Counter(2.0 * macs_per_image * static_cast<double>(n) * static_cast<double>(state.iterations()),
                                                benchmark::Counter::kIsRate);
}

void BM_generate_background(benchmark::State& state, const std::string& preset) {
    const core::index_t n = state.range(0);
    generation_fixture f(preset, n);
    f.background_only();
    for (auto _ : state) f.background_only();
    report(state, n, f.background_macs());
}

void BM_generate_defect(benchmark::State& state, const std::string& preset) {
    const core::index_t n = state.range(0);
    generation_fixture f(preset, n, static_cast<int>(state.range(1)));
    f.with_defect();
    for (auto _ : state) f.with_defect();
    report(state, n, f.background_macs() + f.defect_macs());
    state.counters["flop_ratio"] = (f.background_macs() + f.defect_macs()) / f.background_macs();
}

// Arguments: batch, and for the defect pass the start layer (-1: METHOD.md's default). Wall-clock
// time: the work runs on the library's pool, not only on the calling thread.
BENCHMARK_CAPTURE(BM_generate_background, tiny, std::string("tiny"))->Args({8})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_generate_defect, tiny, std::string("tiny"))->Args({8, -1})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_generate_background, cpu64, std::string("cpu64"))->Args({8})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_generate_defect, cpu64, std::string("cpu64"))
    ->Args({8, -1})
    ->Args({8, 4})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
