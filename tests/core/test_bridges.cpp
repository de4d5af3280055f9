// Eigen and xtensor see imbdef's memory without copies, in both directions.
#include <doctest/doctest.h>

#include <imbdef/core.hpp>
#include <imbdef/core/eigen.hpp>
#include <imbdef/core/xtensor.hpp>

using namespace imbdef::core;

TEST_CASE("as_matrix maps a view row-major without copying") {
    tensor<float> a({2, 3}, {1, 2, 3, 4, 5, 6});
    auto m = as_matrix(a.view());
    CHECK(m.data() == a.data());
    CHECK(m(1, 0) == 4.0f);
    m(0, 2) = 30.0f;
    CHECK(a(0, 2) == 30.0f);

    tensor<float> b({3, 2}, {1, 0, 0, 1, 1, 1});
    tensor<float> c({2, 2});
    as_matrix(c.view()).noalias() = as_matrix(a.cview()) * as_matrix(b.cview());
    CHECK(c(0, 0) == 31.0f);  // 1 + 30
    CHECK(c(1, 1) == 11.0f);  // 5 + 6

    auto flat = as_matrix(a.cview(), 3, 2);
    CHECK(flat(2, 1) == 6.0f);
    CHECK_THROWS_WITH_AS(as_matrix(a.view(), 4, 2), doctest::Contains("expected 4 x 2 = 8 elements"), imbdef::error);
    tensor<float> r3({2, 2, 2});
    CHECK_THROWS_WITH_AS(as_matrix(r3.view()), doctest::Contains("a rank-2 view"), imbdef::error);
    CHECK(as_vector(r3.cview()).size() == 8);
}

TEST_CASE("as_xtensor adapts a view; as_view views an xtensor container") {
    tensor<double> t({2, 3, 4});
    auto x = as_xtensor(t.view());
    CHECK(x.dimension() == 3);
    CHECK(x.shape()[2] == 4);
    x(1, 2, 3) = 7.0;
    CHECK(t(1, 2, 3) == 7.0);

    xt::xarray<float> image = xt::zeros<float>({4, 5});
    auto v = as_view(image);
    CHECK(v.shape() == shape{4, 5});
    CHECK(v.data() == image.data());
    v(3, 4) = 2.5f;
    CHECK(image(3, 4) == 2.5f);

    xt::xtensor<float, 2, xt::layout_type::column_major> cm = xt::zeros<float>({2, 2});
    CHECK_THROWS_WITH_AS(as_view(cm), doctest::Contains("row-major"), imbdef::error);
}
