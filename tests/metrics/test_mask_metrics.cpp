// Out-of-region rate and mask alignment on cases with a known answer.
#include <doctest/doctest.h>

#include <imbdef/metrics/mask_metrics.hpp>

using namespace imbdef;

TEST_CASE("out_of_region_rate counts defect pixels outside the valid region") {
    core::tensor<float> defect({1, 1, 2, 2}, {1, 1, 1, -1});
    core::tensor<float> valid({1, 1, 2, 2}, {1, 1, 0, 0});
    CHECK(metrics::out_of_region_rate<float>(defect.cview(), valid.cview()) == doctest::Approx(1.0 / 3.0));
    core::tensor<float> none({1, 1, 2, 2}, -1.0f);
    CHECK(metrics::out_of_region_rate<float>(none.cview(), valid.cview()) == 0.0);
    core::tensor<float> wrong({1, 1, 2, 3});
    CHECK_THROWS_AS(metrics::out_of_region_rate<float>(wrong.cview(), valid.cview()), imbdef::error);
}

TEST_CASE("mask_alignment: the share of the image change that lies inside the mask") {
    core::tensor<float> bg({1, 2, 1, 4});
    core::tensor<float> img({1, 2, 1, 4}, {0.5f, 0.5f, 0.1f, 0.1f, 0.5f, 0.5f, 0.1f, 0.1f});
    core::tensor<float> mask({1, 1, 1, 4}, {1, 1, -1, -1});
    // Mean change 0.5 inside, 0.1 outside: 0.5 / 0.6.
    CHECK(metrics::mask_alignment<float>(img.cview(), bg.cview(), mask.cview()) == doctest::Approx(0.5 / 0.6).epsilon(1e-5));
    // Nothing outside changes (a paste): 1 exactly, not a division by zero; nothing at all: 0.
    core::tensor<float> pasted({1, 2, 1, 4}, {0.5f, 0.5f, 0, 0, 0.5f, 0.5f, 0, 0});
    CHECK(metrics::mask_alignment<float>(pasted.cview(), bg.cview(), mask.cview()) == 1.0);
    CHECK(metrics::mask_alignment<float>(bg.cview(), bg.cview(), mask.cview()) == 0.0);
    // A mask that is the complement of the change explains none of it.
    core::tensor<float> inverse({1, 1, 1, 4}, {-1, -1, 1, 1});
    CHECK(metrics::mask_alignment<float>(pasted.cview(), bg.cview(), inverse.cview()) == 0.0);
    core::tensor<float> bad_mask({1, 2, 1, 4});
    CHECK_THROWS_WITH_AS(metrics::mask_alignment<float>(img.cview(), bg.cview(), bad_mask.cview()),
                         doctest::Contains("a defect mask of shape [1, 1, 1, 4]"), imbdef::error);
}
