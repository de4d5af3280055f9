// The training-step cost model of models/cost.hpp: what a pass costs by the gradients it asks
// for, which passes each stage's step runs, and hand counts on the tiny preset.

#include <doctest/doctest.h>

#include <imbdef/models/cost.hpp>
#include <imbdef/models/defect_generator.hpp>
#include <imbdef/models/matching_discriminator.hpp>
#include <imbdef/models/presets.hpp>

using namespace imbdef::models;

namespace {

double sum_of(const std::vector<layer_cost>& rows, bool trained_only, bool convs_only) {
    double m = 0;
    for (const auto& r : rows)
        if (!trained_only || r.params > 0) m += convs_only ? r.mac_conv + r.mac_other : r.mac_total();
    return m;
}

double sum_of(const train_step_cost& c) {
    double m = 0;
    for (const auto& p : c.passes) m += p.macs / p.every;
    return m;
}

const step_pass& find_pass(const train_step_cost& c, const std::string& phase, const std::string& what_prefix) {
    for (const auto& p : c.passes)
        if (p.phase == phase && p.what.rfind(what_prefix, 0) == 0) return p;
    FAIL("no pass '" << what_prefix << "' in phase " << phase);
    return c.passes.front();
}

struct tiny_networks {
    const preset& p = preset_by_name("tiny");
    synthesis_schedule s = make_synthesis_schedule(p.synthesis(3));
    int start = default_defect_start_layer(s, p.resolution);
    std::vector<layer_cost> g = generator_costs(s, p.latent_dim, p.latent_dim);
    std::vector<layer_cost> defect = defect_path_costs(s, start, p.latent_dim, p.latent_dim);
    std::vector<layer_cost> d_img = discriminator_costs(make_discriminator_schedule(p.image_discriminator(3)), 3);
    std::vector<layer_cost> d_match1 = discriminator_costs(make_discriminator_schedule(p.matching_discriminator(3)), 4);
    std::vector<layer_cost> d_match2 = discriminator_costs(make_discriminator_schedule(p.matching_discriminator(3)), 4, 1, 1);
};

}  // namespace

TEST_CASE("cost: a pass's backward is 2x forward for convolutions and dense products, 1x for filters and frozen rows") {
    const tiny_networks t;
    for (const auto* rows : {&t.g, &t.d_img, &t.d_match2}) {
        const pass_macs p = pass_macs_of(*rows);
        const layer_cost total = total_cost(*rows);
        CHECK(p.forward == doctest::Approx(total.mac_total()));
        CHECK(p.data == doctest::Approx(p.forward));
        // Every row of these networks is trained: the weight gradient is all but the filters.
        CHECK(p.weight == doctest::Approx(total.mac_conv + total.mac_other));
        CHECK(parameter_gradient_macs(p) == doctest::Approx(3 * total.mac_total() - total.mac_filter));
        CHECK(input_gradient_macs(p) == doctest::Approx(2 * total.mac_total()));
        CHECK(r1_exact_macs(p) == doctest::Approx(7 * total.mac_total() - 2 * total.mac_filter));
    }
    // The defect path's frozen rows ("again", the mask's resampling, the blends) have no weight
    // gradient; its trained rows (mapping, branch, to-mask) do.
    const pass_macs d = pass_macs_of(t.defect);
    CHECK(d.weight == doctest::Approx(sum_of(t.defect, true, true)));
    CHECK(d.weight < 0.6 * d.forward);  // the re-run frozen layers are about half of the path
    double again = 0;
    for (const auto& r : t.defect)
        if (r.name.rfind("again ", 0) == 0) {
            CHECK(r.params == 0);
            again += r.mac_total();
        }
    CHECK(again > 0);
    CHECK(d.forward - d.weight > again);
}

TEST_CASE("cost: a hand count of the tiny matching discriminator's first block, mask injected") {
    const tiny_networks t;
    // tiny D_match, C_img = 3: channel base 1024 / 4 = 256, so block 32 is t = 8 -> o = 16, and the
    // concat injection adds e = 1 channel to conv0's and skip's inputs.
    const layer_cost& b = t.d_match2.front();
    CHECK(b.name == "b32");
    const double conv0 = 32.0 * 32 * (8 + 1) * 8 * 9;  // 663,552
    const double conv1 = 16.0 * 16 * 16 * 8 * 9;       // 294,912 (stride 2 after the blur)
    const double skip = 16.0 * 16 * (8 + 1) * 16;       // 36,864
    const double fromrgb = 32.0 * 32 * 4 * 8;           // 32,768
    const double blur = 33.0 * 33 * 8 * 16;             // 139,392: conv1's 4x4 FIR at (r + 1)^2
    const double skip_fir = 16.0 * 16 * (8 + 1) * 16;   // 36,864
    CHECK(b.mac_conv == conv0 + conv1 + skip + fromrgb);
    CHECK(b.mac_filter == blur + skip_fir);
    CHECK(b.params == 40 + (8 * 9 * 9 + 8) + (16 * 8 * 9 + 16) + 16 * 9);
    // Its share of one D main pass on the fakes: forward, data and weight gradients.
    const pass_macs p = pass_macs_of({b});
    CHECK(parameter_gradient_macs(p) == 3 * (conv0 + conv1 + skip + fromrgb) + 2 * (blur + skip_fir));
    // The whole network's parameters are the matching discriminator's.
    CHECK(total_cost(t.d_match2).params ==
          matching_discriminator_parameter_count(t.p.matching_discriminator(3), 1));
    CHECK(total_cost(discriminator_costs(make_discriminator_schedule(t.p.matching_discriminator(3)), 4, 1, 1, 3)).params ==
          matching_discriminator_parameter_count(t.p.matching_discriminator(3), 1, 3));
    // Without injection it is the stage-1 D_match, the image discriminator's network.
    CHECK(total_cost(t.d_match1).params == matching_discriminator_parameter_count(t.p.matching_discriminator(3), 0));
    CHECK(total_cost(t.d_match2).mac_total() > total_cost(t.d_match1).mac_total());
}

TEST_CASE("cost: the stage-1 step is the sum of its passes, R1 amortised over its interval") {
    const tiny_networks t;
    const train_step_cost c = background_train_step_cost(t.g, t.d_img, t.d_match1, 16);
    CHECK(c.macs_per_image() == doctest::Approx(sum_of(c)));
    CHECK(c.macs_per_image() == doctest::Approx(c.every_step_macs() + c.lazy_macs() / 16));
    CHECK(c.macs_per_image(16, 1) == doctest::Approx(16 * c.macs_per_image()));
    CHECK(c.macs_per_image(3, 0) == doctest::Approx(3 * c.every_step_macs()));
    const pass_macs G = pass_macs_of(t.g), Di = pass_macs_of(t.d_img), Dm = pass_macs_of(t.d_match1);
    // G: forward + backward in G main, forward in D main. D: input gradient in G main, parameter
    // gradients on fakes and reals in D main, 2F + 3D + 2W every 16 steps.
    CHECK(c.every_step_macs() == doctest::Approx(2 * G.forward + G.data + G.weight +  // G main and D main
                                                 2 * Di.forward + 2 * Dm.forward +      // G main's D passes
                                                 2 * (3 * Di.forward - total_cost(t.d_img).mac_filter) +
                                                 2 * (3 * Dm.forward - total_cost(t.d_match1).mac_filter)));
    CHECK(c.lazy_macs() == doctest::Approx(r1_exact_macs(Di) + r1_exact_macs(Dm)));
    CHECK(find_pass(c, "D reg", "D_img").every == 16);
    CHECK(find_pass(c, "D main", "G forward").macs == doctest::Approx(G.forward));
}

TEST_CASE("cost: the stage-2 step runs the whole generator forward twice, backward only through the defect path") {
    const tiny_networks t;
    const train_step_cost c = defect_train_step_cost(t.g, t.defect, t.d_img, t.d_match2, 16);
    CHECK(c.macs_per_image() == doctest::Approx(sum_of(c)));
    const pass_macs B = pass_macs_of(t.g), P = pass_macs_of(t.defect), Di = pass_macs_of(t.d_img), Dm = pass_macs_of(t.d_match2);
    CHECK(find_pass(c, "G main", "G forward").macs == doctest::Approx(B.forward + P.forward));
    CHECK(find_pass(c, "D main", "G forward").macs == doctest::Approx(B.forward + P.forward));
    // The frozen background pass has no backward: the G backward does not depend on it.
    CHECK(find_pass(c, "G main", "G backward").macs == doctest::Approx(P.forward + P.weight));
    const train_step_cost bigger_background = defect_train_step_cost(t.defect, t.defect, t.d_img, t.d_match2, 16);
    CHECK(find_pass(bigger_background, "G main", "G backward").macs == doctest::Approx(P.forward + P.weight));
    // D_match runs on three batches in D main: fakes, reals and the shuffled-mask negatives.
    CHECK(find_pass(c, "D main", "D_match").macs == doctest::Approx(3 * parameter_gradient_macs(Dm)));
    CHECK(find_pass(c, "D main", "D_img").macs == doctest::Approx(2 * parameter_gradient_macs(Di)));
    CHECK(c.lazy_macs() == doctest::Approx(r1_exact_macs(Di) + r1_exact_macs(Dm)));
    // Against stage 1 on the same preset: more (the defect path, the extra D_match pass), but
    // less than twice the stage-1 G's share again (no backward through the background pass).
    const train_step_cost s1 = background_train_step_cost(t.g, t.d_img, t.d_match1, 16);
    CHECK(c.macs_per_image() > s1.macs_per_image());
    CHECK(c.macs_per_image() - s1.macs_per_image() ==
          doctest::Approx(2 * P.forward + P.forward + P.weight - (B.data + B.weight) +
                          input_gradient_macs(Dm) - input_gradient_macs(pass_macs_of(t.d_match1)) +
                          3 * parameter_gradient_macs(Dm) - 2 * parameter_gradient_macs(pass_macs_of(t.d_match1)) +
                          (r1_exact_macs(Dm) - r1_exact_macs(pass_macs_of(t.d_match1))) / 16));
}
