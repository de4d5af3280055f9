// ops::fir: the Kaiser-windowed sinc low-pass against scipy.signal.firwin, the radial (jinc)
// filter of config R, StyleGAN's setup_filter rule. The literal numbers come from
// gen_known_answers.py (numpy and scipy, run once) and from reference/stylegan3.md section 3.2.

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include <imbdef/core.hpp>
#include <imbdef/ops/fir.hpp>

using namespace imbdef;
using core::index_t;
using core::shape;
using core::tensor;

namespace {

void check_taps(const tensor<double>& h, const std::vector<double>& expected, double tol) {
    REQUIRE(h.numel() == static_cast<index_t>(expected.size()));
    double worst = 0.0;
    for (index_t i = 0; i < h.numel(); ++i) worst = std::max(worst, std::abs(h[i] - expected[static_cast<std::size_t>(i)]));
    CHECK(worst <= tol);
}

double sum(const tensor<double>& h) {
    double s = 0.0;
    for (double v : h) s += v;
    return s;
}

std::string message_of(auto&& call) {
    try {
        call();
    } catch (const imbdef::error& e) {
        return e.what();
    }
    return "no imbdef::error";
}

}  // namespace

TEST_CASE("fir::lowpass matches the reference's T-256 known answers to 1e-7") {
    // reference/stylegan3.md section 3.2: L0 (fu = fd) and L13, first half (the filters are symmetric).
    const tensor<double> l0 = ops::fir::lowpass(12, 2.0, 12.0, 32.0);
    const double l0_ref[] = {0.0007919, 0.01001832, 0.03894952, 0.09241279, 0.15652562, 0.20130185};
    const tensor<double> l13 = ops::fir::lowpass(12, 128.0, 2 * 29.586484908149288, 512.0);
    const double l13_ref[] = {0.02337425, 0.0344493, -0.0508807, -0.07861523, 0.13961044, 0.43206194};
    for (index_t i = 0; i < 6; ++i) {
        CHECK(std::abs(l0[i] - l0_ref[i]) <= 1e-7);
        CHECK(std::abs(l0[11 - i] - l0_ref[i]) <= 1e-7);
        CHECK(std::abs(l13[i] - l13_ref[i]) <= 1e-7);
        CHECK(std::abs(l13[11 - i] - l13_ref[i]) <= 1e-7);
    }
    CHECK(ops::fir::kaiser_atten(12, 12.0 / 16.0) == doctest::Approx(67.1729485109846).epsilon(1e-13));
    CHECK(ops::fir::kaiser_beta(67.1729485109846) == doctest::Approx(6.4437189259105025).epsilon(1e-13));
}

TEST_CASE("fir::lowpass equals scipy.signal.firwin for even and odd lengths and every beta branch") {
    check_taps(ops::fir::lowpass(24, 2.0, 12.0, 64.0),
               {0.00026322433662300345, 0.0013134128448186672, 0.003749149832137315, 0.0083027146759943465,
                0.015613364431812092,   0.0259963789237765,    0.039230916462373012, 0.054442198404635544,
                0.07013755609293143,    0.084415622929070538,  0.095314968136457234, 0.10122049292937023,
                0.10122049292937023,    0.095314968136457234,  0.084415622929070538, 0.07013755609293143,
                0.054442198404635544,   0.039230916462373012,  0.0259963789237765,   0.015613364431812092,
                0.0083027146759943465,  0.003749149832137315,  0.0013134128448186672, 0.00026322433662300345},
               1e-14);
    // Attenuation below 21 dB: beta 0 (a rectangular window).
    check_taps(ops::fir::lowpass(7, 0.3, 0.2, 2.0),
               {0.027707722503339489, 0.12791340210172214, 0.2176192777937789, 0.25351919520231897,
                0.2176192777937789, 0.12791340210172214, 0.027707722503339489},
               1e-14);
    CHECK(ops::fir::kaiser_atten(7, 0.2) == doctest::Approx(16.564247056143213).epsilon(1e-13));
    CHECK(ops::fir::kaiser_beta(16.564247056143213) == 0.0);
    // 21 < A <= 50: the middle branch of kaiser_beta.
    check_taps(ops::fir::lowpass(13, 5.0, 3.0, 32.0),
               {-0.015930781839354993, -0.054192912354731664, -0.05285250543689541, 0.020633735596475342,
                0.15278068607423975,   0.28182528684612768,   0.33547298222827865,  0.28182528684612768,
                0.15278068607423975,   0.020633735596475342,  -0.05285250543689541, -0.054192912354731664,
                -0.015930781839354993},
               1e-14);
    check_taps(ops::fir::lowpass(24, 11.314, 41.372, 128.0),
               {2.1710957010183559e-07, -2.2144009159715226e-05, -0.0002461050089977594, -0.0010718036617617303,
                -0.00261850197360998,   -0.0033385436795850794,  0.0013706292929789596,  0.018419797014518478,
                0.052737503989768536,   0.10134820516620593,     0.15088689229353314,    0.18253385346653908,
                0.18253385346653908,    0.15088689229353314,     0.10134820516620593,    0.052737503989768536,
                0.018419797014518478,   0.0013706292929789596,   -0.0033385436795850794, -0.00261850197360998,
                -0.0010718036617617303, -0.0002461050089977594,  -2.2144009159715226e-05, 2.1710957010183559e-07},
               1e-14);
    CHECK(ops::fir::kaiser_beta(114.68096968431526) == doctest::Approx(11.679102859211541).epsilon(1e-13));
    CHECK(sum(ops::fir::lowpass(24, 11.314, 41.372, 128.0)) == doctest::Approx(1.0).epsilon(1e-15));
}

TEST_CASE("fir::lowpass with one tap is the identity; float results are the double ones rounded") {
    const tensor<double> one = ops::fir::lowpass(1, 0.0, 0.0, 1.0);
    REQUIRE(one.shape() == shape{1});
    CHECK(one[0] == 1.0);
    const tensor<double> d = ops::fir::lowpass(12, 2.0, 12.0, 32.0);
    const tensor<float> f = ops::fir::lowpass<float>(12, 2.0, 12.0, 32.0);
    for (index_t i = 0; i < 12; ++i) CHECK(f[i] == static_cast<float>(d[i]));
}

TEST_CASE("fir::radial_lowpass: config R's jinc, normalised, symmetric") {
    const tensor<double> f = ops::fir::radial_lowpass(12, 2.0, 12.0, 32.0);
    REQUIRE(f.shape() == shape{12, 12});
    const std::vector<double> row0 = {8.4120967040365939e-07, 1.0472169427121327e-05, 4.0277926572886675e-05,
                                      9.4871175657989124e-05, 0.00015995772272292574, 0.00020526212641882341,
                                      0.00020526212641882341, 0.00015995772272292574, 9.4871175657989124e-05,
                                      4.0277926572886675e-05, 1.0472169427121327e-05, 8.4120967040365939e-07};
    const std::vector<double> row5 = {0.00020526212641882341, 0.002278629985468115, 0.0081980479392304156,
                                      0.018542157485266667,   0.030533359529233327, 0.038754885402425575,
                                      0.038754885402425575,   0.030533359529233327, 0.018542157485266667,
                                      0.0081980479392304156,  0.002278629985468115, 0.00020526212641882341};
    for (index_t j = 0; j < 12; ++j) {
        CHECK(std::abs(f(0, j) - row0[static_cast<std::size_t>(j)]) <= 1e-12);
        CHECK(std::abs(f(5, j) - row5[static_cast<std::size_t>(j)]) <= 1e-12);
    }
    CHECK(sum(f) == doctest::Approx(1.0).epsilon(1e-14));
    for (index_t i = 0; i < 12; ++i)
        for (index_t j = 0; j < 12; ++j) {
            CHECK(f(i, j) == doctest::Approx(f(j, i)).epsilon(1e-14));
            CHECK(f(i, j) == doctest::Approx(f(11 - i, j)).epsilon(1e-14));
        }
    check_taps(ops::fir::radial_lowpass(6, 5.0, 4.0, 32.0),
               {0.0049336705116753083, 0.015549160539401448, 0.022710224337285142, 0.022710224337285142,
                0.015549160539401448,  0.0049336705116753083, 0.015549160539401448, 0.031346201050294502,
                0.041660896247893292,  0.041660896247893292, 0.031346201050294502, 0.015549160539401448,
                0.022710224337285142,  0.041660896247893292, 0.053879566188870465, 0.053879566188870465,
                0.041660896247893292,  0.022710224337285142, 0.022710224337285142, 0.041660896247893292,
                0.053879566188870465,  0.053879566188870465, 0.041660896247893292, 0.022710224337285142,
                0.015549160539401448,  0.031346201050294502, 0.041660896247893292, 0.041660896247893292,
                0.031346201050294502,  0.015549160539401448, 0.0049336705116753083, 0.015549160539401448,
                0.022710224337285142,  0.022710224337285142, 0.015549160539401448, 0.0049336705116753083},
               1e-12);
}

TEST_CASE("fir::radial_lowpass with an odd length takes the jinc's limit (the cutoff) at r = 0") {
    const double c = 3.0, fs = 32.0, pi = 3.141592653589793;
    const tensor<double> f = ops::fir::radial_lowpass(5, c, 6.0, fs);
    REQUIRE(f.shape() == shape{5, 5});
    CHECK(sum(f) == doctest::Approx(1.0).epsilon(1e-14));
    // Centre (r = 0, window 1 x 1) over its neighbour (r = 1/fs, window 1 x w1).
    const double beta = ops::fir::kaiser_beta(ops::fir::kaiser_atten(5, 6.0 / (fs / 2)));
    const double w1 = std::cyl_bessel_i(0.0, beta * std::sqrt(0.75)) / std::cyl_bessel_i(0.0, beta);
    const double r1 = 1.0 / fs;
    const double neighbour = std::cyl_bessel_j(1.0, 2 * pi * c * r1) / (pi * r1) * w1;
    CHECK(f(2, 2) / f(2, 1) == doctest::Approx(c / neighbour).epsilon(1e-12));
}

TEST_CASE("fir::setup_filter: sum 1, short 1-D filters become their outer product") {
    const tensor<double> f = ops::fir::setup_filter({1.0, 3.0, 3.0, 1.0});
    REQUIRE(f.shape() == shape{4, 4});
    const double k[] = {1, 3, 3, 1};
    for (index_t i = 0; i < 4; ++i)
        for (index_t j = 0; j < 4; ++j) CHECK(f(i, j) == k[i] * k[j] / 64.0);
    // 8 taps or more stay 1-D, normalised.
    const tensor<double> g = ops::fir::setup_filter({1.0, 2.0, 3.0, 4.0, 4.0, 3.0, 2.0, 1.0});
    REQUIRE(g.shape() == shape{8});
    CHECK(g[3] == 4.0 / 20.0);
    // A 2-D filter is normalised as it is.
    const tensor<double> two(shape{2, 2}, {1.0, 2.0, 3.0, 4.0});
    const tensor<double> h = ops::fir::setup_filter(two.cview());
    REQUIRE(h.shape() == shape{2, 2});
    CHECK(h(1, 0) == 0.3);
}

TEST_CASE("fir design names the function, the argument and the value on bad arguments") {
    CHECK(message_of([] { ops::fir::lowpass(0, 1.0, 1.0, 8.0); }) ==
          "ops::fir::lowpass: expected numtaps >= 1, found numtaps 0");
    CHECK(message_of([] { ops::fir::lowpass(12, 5.0, 1.0, 8.0); }) ==
          "ops::fir::lowpass: expected a cutoff in (0, fs/2 = 4.000000), found cutoff 5.000000");
    CHECK(message_of([] { ops::fir::radial_lowpass(12, 1.0, 0.0, 8.0); }) ==
          "ops::fir::radial_lowpass: expected a positive transition width, found width 0.000000");
    CHECK(message_of([] { ops::fir::setup_filter({1.0, -1.0}); }) ==
          "ops::fir::setup_filter: expected taps with a finite, non-zero sum, found sum 0.000000");
}
