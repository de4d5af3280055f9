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

TEST_CASE("mask_alignment: the ratio of image change inside the mask to outside it") {
    core::tensor<float> bg({1, 2, 1, 4});
    core::tensor<float> img({1, 2, 1, 4}, {0.5f, 0.5f, 0.1f, 0.1f, 0.5f, 0.5f, 0.1f, 0.1f});
    core::tensor<float> mask({1, 1, 1, 4}, {1, 1, -1, -1});
    CHECK(metrics::mask_alignment<float>(img.cview(), bg.cview(), mask.cview()) == doctest::Approx(5.0).epsilon(1e-5));
    core::tensor<float> bad_mask({1, 2, 1, 4});
    CHECK_THROWS_WITH_AS(metrics::mask_alignment<float>(img.cview(), bg.cview(), bad_mask.cview()),
                         doctest::Contains("a defect mask of shape [1, 1, 1, 4]"), imbdef::error);
}
