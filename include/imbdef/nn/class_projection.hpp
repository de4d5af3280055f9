#pragma once
// class_projection: the class term of a projection discriminator (Miyato & Koyama 2018), which
// makes a discriminator conditional on one class c_n in [0, K) per sample (METHOD.md, "Many
// defect types, one model": D(x, m, c) = f(x, m) + <embed_D(c), h(x, m)>):
//
//   s_n = g <E[c_n], h_n>      h [N, C] the features, E [K, C] the class embedding, s [N, 1],
//                              g = lr_multiplier / sqrt(C)
//
// The caller adds s to its unconditional output. E is stored as N(0, 1) / lr_multiplier and scaled
// at run time like every equalised-learning-rate layer. With the gain of the discriminator's output
// layer (out(h) = g <w, h> + b, the same g), E[c] is exactly a class-specific offset to out's
// weight vector: at initialisation the class term has the scale of the unconditional one, and the
// two learn at the same rate. The rows are not normalised: that would fix |E[c]|, which is how far
// the class may move the logit and so what the discriminator has to learn (StyleGAN2-ADA
// normalises its class embedding because it feeds a mapping network, where the scale carries no
// meaning; here it multiplies h directly).
//
// The labels come through the context: ctx.classes, one per sample, set by the caller before
// forward and kept (as a span) until the last backward pass of that context, like a view of x. So
// the module stays x -> s; nn::with_classes fixes the labels for code that makes its own contexts.
//
// Gradients, and their tangents with E fixed (parameters have zero tangents, as in R1):
//   dh_n  = g ds_n E[c_n]                    dh_dot_n  = g ds_dot_n E[c_n]
//   dE[k] = g sum_{n: c_n = k} ds_n h_n      dE_dot[k] = g sum_{n: c_n = k} (ds_dot_n h_n + ds_n h_dot_n)
// The term is bilinear in (E, h), so the embedding gradient's tangent has both product-rule terms.
// Rows of classes absent from the batch get a zero gradient (assign writes every entry). Each
// gradient entry sums over the samples in order, so the result does not depend on the thread count.

#include <cmath>
#include <span>
#include <string>

#include "../core/grad_mode.hpp"
#include "../core/tensor.hpp"
#include "module.hpp"

namespace imbdef::nn {

// Checks per-sample class labels: exactly n of them, each in [0, num_classes).
inline void check_classes(std::span<const int> classes, core::index_t n, core::index_t num_classes,
                          const std::string& where) {
    IMBDEF_REQUIRE(static_cast<core::index_t>(classes.size()) == n, where,
                   "one class label per sample (N = " + std::to_string(n) + ") in ctx.classes, each in [0, " +
                       std::to_string(num_classes) + ")",
                   classes.empty() ? std::string("none") : std::to_string(classes.size()) + " labels");
    for (std::size_t i = 0; i < classes.size(); ++i)
        IMBDEF_REQUIRE(classes[i] >= 0 && classes[i] < num_classes, where,
                       "the class of sample " + std::to_string(i) + " in [0, " + std::to_string(num_classes) + ")",
                       std::to_string(classes[i]));
}

struct class_projection {
    core::index_t num_classes = 1, features = 0;
    double lr_multiplier = 1.0;

    parameter_ref weight_ref{};

    template <class T>
    struct context {
        std::span<const int> classes;  // set by the caller before forward
        core::const_view<T> x, x_dot;
    };

    void declare(const registry& r) {
        IMBDEF_REQUIRE(num_classes >= 1 && features >= 1 && lr_multiplier > 0, "nn::class_projection " + r.prefix(),
                       "classes >= 1, features >= 1 and a positive lr multiplier",
                       std::to_string(num_classes) + " classes, " + std::to_string(features) + " features, lr multiplier " +
                           std::to_string(lr_multiplier));
        weight_ref = r.parameter("weight", {num_classes, features}, initializer::normal(0, 1.0 / lr_multiplier));
    }

    core::shape output_shape(const core::shape& x) const {
        IMBDEF_REQUIRE(x.rank() == 2 && x[1] == features, "nn::class_projection",
                       "input [N, " + std::to_string(features) + "]", "shape " + x.to_string());
        return {x[0], 1};
    }

    double gain() const { return lr_multiplier / std::sqrt(static_cast<double>(features)); }

    template <class T>
    void forward(params_in<T> p, core::const_view<T> x, core::view<T> y, context<T>& ctx) const {
        check_classes(ctx.classes, x.size(0), num_classes, "nn::class_projection");
        ctx.x = x;
        project<T>(p, ctx.classes, x, y);
    }

    template <class T>
    void backward(params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::view<T> dx, grads_out<T> g,
                  core::grad_mode data_mode, core::grad_mode param_mode) const {
        input_gradient<T>(p, ctx.classes, dy, dx, data_mode);
        if (param_mode != core::grad_mode::none)
            embedding_gradient<T>(ctx.classes, dy, ctx.x, core::const_view<T>{}, core::const_view<T>{}, g[weight_ref],
                                  param_mode);
    }

    template <class T>
    void forward_tangent(params_in<T> p, context<T>& ctx, core::const_view<T> x_dot, core::view<T> y_dot) const {
        ctx.x_dot = x_dot;
        project<T>(p, ctx.classes, x_dot, y_dot);
    }

    template <class T>
    void backward_tangent(params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::const_view<T> dy_dot,
                          core::view<T> dx, core::view<T> dx_dot, grads_out<T> g_dot, core::grad_mode data_mode,
                          core::grad_mode param_mode) const {
        input_gradient<T>(p, ctx.classes, dy, dx, data_mode);
        input_gradient<T>(p, ctx.classes, dy_dot, dx_dot, data_mode);
        if (param_mode != core::grad_mode::none)
            embedding_gradient<T>(ctx.classes, dy_dot, ctx.x, dy, ctx.x_dot, g_dot[weight_ref], param_mode);
    }

private:
    // y_n = g <E[c_n], x_n>: the forward on h, and the forward tangent on h_dot (linear in h).
    template <class T>
    void project(params_in<T> p, std::span<const int> classes, core::const_view<T> x, core::view<T> y) const {
        const core::const_view<T> e = p[weight_ref];
        const core::index_t n = x.size(0), c = features;
        const T g = static_cast<T>(gain());
        for (core::index_t i = 0; i < n; ++i) {
            const T* row = e.data() + classes[i] * c;
            const T* xi = x.data() + i * c;
            T sum = 0;
            for (core::index_t k = 0; k < c; ++k) sum += row[k] * xi[k];
            y[i] = g * sum;
        }
    }

    // dx_n = g dy_n E[c_n] under `mode` (dy is ds for the gradient, ds_dot for its tangent).
    template <class T>
    void input_gradient(params_in<T> p, std::span<const int> classes, core::const_view<T> dy, core::view<T> dx,
                        core::grad_mode mode) const {
        if (mode == core::grad_mode::none) return;
        const core::const_view<T> e = p[weight_ref];
        const core::index_t n = dx.size(0), c = features;
        const T g = static_cast<T>(gain());
        for (core::index_t i = 0; i < n; ++i) {
            const T* row = e.data() + classes[i] * c;
            const T scale = g * dy[i];
            for (core::index_t k = 0; k < c; ++k) core::store_grad(dx[i * c + k], scale * row[k], mode);
        }
    }

    // dE[k] = g sum_{n: c_n = k} (a_n x_n + b_n y_n) under `mode`; an empty b drops the second term
    // (the gradient has one term, its tangent two).
    template <class T>
    void embedding_gradient(std::span<const int> classes, core::const_view<T> a, core::const_view<T> x,
                            core::const_view<T> b, core::const_view<T> y, core::view<T> de, core::grad_mode mode) const {
        const core::index_t n = x.size(0), c = features;
        const T g = static_cast<T>(gain());
        const bool second = b.numel() > 0;
        for (core::index_t k = 0; k < num_classes; ++k)
            for (core::index_t j = 0; j < c; ++j) {
                T sum = 0;
                for (core::index_t i = 0; i < n; ++i) {
                    if (classes[i] != k) continue;
                    sum += a[i] * x[i * c + j];
                    if (second) sum += b[i] * y[i * c + j];
                }
                core::store_grad(de[k * c + j], g * sum, mode);
            }
    }
};

}  // namespace imbdef::nn
