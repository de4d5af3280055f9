#pragma once
// The defect mapping network of stage 2: a defect code z_d, and with several defect types its
// class c, to the style w_d that modulates the branch layers and the to-mask conv.
//
//   w_d = FC lrelu (lr 0.01) x depth ( [normalize(z_d), normalize(embed(onehot(c)))] )
//
// The class embedding follows StyleGAN2-ADA's conditional mapping: a linear map of the one-hot
// class, normalised to unit second moment, concatenated to the normalised code. One class means
// no embedding at all: the unconditional network.
//
// Parameters (under the registry it is declared in): embed.weight, .bias [W_d, classes], [W_d]
// (only when classes > 1); fc{i}.weight, .bias: fc0 [W_d, zd (+ W_d)], then [W_d, W_d].
//
// Rows are independent: the defect generator maps its N K codes (every pass of every sample) as
// N K rows in one call.

#include <span>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/grad_mode.hpp"
#include "../core/tensor.hpp"
#include "../nn/fully_connected_layer.hpp"
#include "../nn/module.hpp"
#include "../nn/normalize_layer.hpp"

namespace imbdef::models {

class defect_mapping {
public:
    defect_mapping(core::index_t z_dim, core::index_t w_dim, int layers, double lr_multiplier, int num_classes)
        : z_dim_(z_dim), w_dim_(w_dim), num_classes_(num_classes) {
        IMBDEF_REQUIRE(layers >= 1 && z_dim >= 1 && w_dim >= 1, "models::defect_mapping", "z_dim, w_dim and layers >= 1",
                       std::to_string(z_dim) + ", " + std::to_string(w_dim) + ", " + std::to_string(layers));
        IMBDEF_REQUIRE(num_classes >= 1, "models::defect_mapping", "at least 1 defect class", std::to_string(num_classes));
        if (conditional()) embed_ = nn::fully_connected_layer{num_classes, w_dim};
        const core::index_t in0 = z_dim + (conditional() ? w_dim : 0);
        for (int i = 0; i < layers; ++i) {
            nn::fully_connected_layer fc{i == 0 ? in0 : w_dim, w_dim};
            fc.params.lr_multiplier = lr_multiplier;
            fc.params.act = ops::activation::lrelu;
            layers_.push_back(fc);
        }
    }

    template <class T>
    struct context {
        core::tensor<T> z_normalized, onehot, embedded, embedded_normalized, input;
        core::tensor<T> d_input, d_z_normalized, d_embedded_normalized, d_embedded;
        typename nn::normalize_layer::template context<T> normalize_z, normalize_embed;
        typename nn::fully_connected_layer::template context<T> embed;
        std::vector<typename nn::fully_connected_layer::template context<T>> fc;
        std::vector<core::tensor<T>> out, grad;  // per layer; out.back() is w_d
        std::vector<int> classes;                // one per row
    };

    bool conditional() const noexcept { return num_classes_ > 1; }

    void declare(const nn::registry& r) {
        if (conditional()) embed_.declare(r.scope("embed"));
        for (std::size_t i = 0; i < layers_.size(); ++i) layers_[i].declare(r.scope("fc" + std::to_string(i)));
    }

    // z_rows [rows, zd]; classes: one per row in [0, classes) (checked by the caller). Returns w_d
    // [rows, W_d], held by ctx.
    template <class T>
    core::const_view<T> forward(nn::params_in<T> p, core::const_view<T> z_rows, std::span<const int> classes, context<T>& ctx) const {
        const core::index_t rows = z_rows.size(0), zd = z_dim_, wd = w_dim_;
        ctx.classes.assign(classes.begin(), classes.end());
        const core::view<T> zn = nn::ensure_shape(ctx.z_normalized, {rows, zd});
        nn::normalize_layer().forward<T>(p, z_rows, zn, ctx.normalize_z);
        core::const_view<T> in = zn;
        if (conditional()) {
            const core::view<T> onehot = nn::ensure_shape(ctx.onehot, {rows, core::index_t{num_classes_}});
            for (core::index_t i = 0; i < rows; ++i)
                for (core::index_t c = 0; c < num_classes_; ++c) onehot(i, c) = ctx.classes[static_cast<std::size_t>(i)] == c ? T(1) : T(0);
            const core::view<T> e = nn::ensure_shape(ctx.embedded, {rows, wd});
            embed_.forward<T>(p, onehot, e, ctx.embed);
            const core::view<T> en = nn::ensure_shape(ctx.embedded_normalized, {rows, wd});
            nn::normalize_layer().forward<T>(p, e, en, ctx.normalize_embed);
            const core::view<T> cat = nn::ensure_shape(ctx.input, {rows, zd + wd});
            for (core::index_t i = 0; i < rows; ++i) {
                for (core::index_t j = 0; j < zd; ++j) cat(i, j) = zn(i, j);
                for (core::index_t j = 0; j < wd; ++j) cat(i, zd + j) = en(i, j);
            }
            in = cat;
        }
        ctx.out.resize(layers_.size());
        ctx.grad.resize(layers_.size());
        ctx.fc.resize(layers_.size());
        for (std::size_t i = 0; i < layers_.size(); ++i) {
            const core::view<T> o = nn::ensure_shape(ctx.out[i], {rows, wd});
            layers_[i].forward<T>(p, in, o, ctx.fc[i]);
            in = o;
        }
        return in;
    }

    // The view to write dL/dw_d [rows, W_d] into before backward.
    template <class T>
    core::view<T> output_gradient(context<T>& ctx) const {
        return nn::ensure_shape(ctx.grad.back(), ctx.out.back().shape());
    }

    // From dL/dw_d (in output_gradient(ctx)): the parameters' gradients under param_mode and
    // dL/dz_rows under data_mode (d_z_rows may be empty when data_mode is none).
    template <class T>
    void backward(nn::params_in<T> p, context<T>& ctx, core::view<T> d_z_rows, nn::grads_out<T> g, core::grad_mode data_mode,
                  core::grad_mode param_mode) const {
        const core::index_t rows = ctx.z_normalized.size(0), zd = z_dim_, wd = w_dim_;
        // The first layer's input gradient is needed for z_d, or for the class embedding.
        const bool need_input = data_mode != core::grad_mode::none || (conditional() && param_mode != core::grad_mode::none);
        core::const_view<T> d = ctx.grad.back().cview();
        for (std::size_t i = layers_.size(); i-- > 0;) {
            core::view<T> d_in;
            core::grad_mode mode = core::grad_mode::assign;
            if (i > 0) {
                d_in = nn::ensure_shape(ctx.grad[i - 1], ctx.out[i - 1].shape());
            } else if (need_input) {
                d_in = nn::ensure_shape(ctx.d_input, {rows, zd + (conditional() ? wd : 0)});
            } else {
                mode = core::grad_mode::none;
            }
            layers_[i].backward<T>(p, ctx.fc[i], d, d_in, g, mode, param_mode);
            d = d_in;
        }
        if (!need_input) return;
        const core::view<T> dzn = nn::ensure_shape(ctx.d_z_normalized, {rows, zd});
        for (core::index_t i = 0; i < rows; ++i)
            for (core::index_t j = 0; j < zd; ++j) dzn(i, j) = d(i, j);
        if (data_mode != core::grad_mode::none) {
            IMBDEF_REQUIRE(d_z_rows.numel() == rows * zd, "models::defect_mapping::backward d_z",
                           "[" + std::to_string(rows) + ", " + std::to_string(zd) + "] values", "shape " + d_z_rows.shape().to_string());
            const core::view<T> dz(d_z_rows.data(), core::shape{rows, zd});
            nn::normalize_layer().backward<T>(p, ctx.normalize_z, dzn, dz, g, data_mode, core::grad_mode::none);
        }
        if (conditional() && param_mode != core::grad_mode::none) {
            const core::view<T> den = nn::ensure_shape(ctx.d_embedded_normalized, {rows, wd});
            for (core::index_t i = 0; i < rows; ++i)
                for (core::index_t j = 0; j < wd; ++j) den(i, j) = d(i, zd + j);
            const core::view<T> de = nn::ensure_shape(ctx.d_embedded, {rows, wd});
            nn::normalize_layer().backward<T>(p, ctx.normalize_embed, den, de, g, core::grad_mode::assign, core::grad_mode::none);
            embed_.backward<T>(p, ctx.embed, de, core::view<T>{}, g, core::grad_mode::none, param_mode);
        }
    }

private:
    core::index_t z_dim_, w_dim_;
    int num_classes_;
    nn::fully_connected_layer embed_{1, 1};
    std::vector<nn::fully_connected_layer> layers_;
};

}  // namespace imbdef::models
